"""Build the fastlit documentation site from the notebooks in `nbs/` (driven by `docs/build`).

The notebooks are stored without outputs, so the build runs in four steps:

1. execute: every notebook runs in its own fresh Python process (2 at a time), from its own folder, the way
   `pytest` runs it (`tst_flags` cells and `#| eval: false` cells skipped). A failing cell fails the build, which
   names its notebook, index and source. `show_doc` cells are added after each exported definition
   that the notebook does not document itself, as nbdev does, so every exported name gets its signature and
   docstring on the page of the notebook that defines it.
2. prepare: the executed notebook is turned into the notebook a reader sees: `#| hide` cells dropped, directive
   lines stripped from code, `show_doc` output turned into a section with an anchor (`#name`, lower case, the
   anchor nbdev's `_modidx.py` uses), links to other notebooks pointed at their pages.
3. render: Sphinx with myst-nb (execution off) and the Furo theme renders the prepared notebooks into `_docs/`;
   navigation follows notebook order, search is Sphinx's own.
4. post-process and check: backticked names of documented objects and modules become links to their docs; then
   every internal link, image and anchor in `_docs/` is checked, and every exported name must have its anchor.

Nothing is cached between runs: `_docs/` and the work folder are made afresh.
"""
from __future__ import annotations

import ast, json, os, posixpath, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from urllib.parse import unquote, urlsplit

from execnb.nbio import mk_cell

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
API_ANCHOR = 'api-anchor'   # class of the empty element that carries a documented name's anchor

# --------------------------------------------------------------------------------------------------------------
# Notebooks and their pages

def page_name(rel: str) -> str:
    "Page (docname, no suffix) of the notebook at `rel` (relative to `nbs/`): `00_dispatch.ipynb` -> `dispatch`."
    p = Path(rel)
    return p.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.name.lower())).with_suffix('').as_posix()

def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', s)]

def find_notebooks(nbs: Path) -> list[str]:
    "Notebooks under `nbs` (relative posix paths) in reading order: `index.ipynb` first, then by name."
    res = []
    for p in nbs.rglob('*.ipynb'):
        rel = p.relative_to(nbs)
        if any(part.startswith(('_', '.')) for part in rel.parts): continue
        res.append(rel.as_posix())
    return sorted(res, key=lambda r: (r != 'index.ipynb', _natural(r)))

def load_modidx() -> dict:
    "`d['syms']` from `fastlit/_modidx.py` (module -> {qualified name: (page#anchor, file)}), or {} if absent."
    f = ROOT/'fastlit'/'_modidx.py'
    if not f.exists(): return {}
    ns = {}
    exec(f.read_text(encoding='utf-8'), ns)
    return ns['d'].get('syms', {})

# --------------------------------------------------------------------------------------------------------------
# Step 1: execute one notebook (runs in a child process: `python docs/nbdocs.py exec SRC DST`)

_SD = '_docs_show_doc'   # what the cells the build adds call; defined in the notebook's shell by _SETUP
_SETUP = r"""
def _docs_show_doc(sym, nm, title_level=3):
    "nbdev's `show_doc(sym)`, or for objects it skips (dispatchers), the name, repr and docstring as markdown."
    from nbdev.showdoc import show_doc
    res = show_doc(sym, title_level=title_level)
    if res is not None: return res
    import inspect
    from IPython.display import Markdown
    doc = (sym.__doc__ or '') if sym.__doc__ != type(sym).__doc__ else ''   # not the class's docstring
    doc = f"*{inspect.cleandoc(doc).split(chr(10)*2)[0]}*" if doc.strip() else ''
    funcs = getattr(sym, 'funcs', None)     # a type dispatcher: one line per registered function
    if isinstance(funcs, dict):
        seen, rows = set(), []
        for k, f in funcs.items():
            if id(f) in seen or not callable(f): continue
            seen.add(id(f))
            tps = ', '.join(getattr(t, '__name__', str(t)) for t in (k if isinstance(k, tuple) else (k,)) if t is not object)
            rows.append(f"- `({tps or 'object'})`: {(inspect.getdoc(f) or '').split(chr(10))[0]}")
        doc = '\n'.join(([doc, ''] if doc else []) + rows)
    return Markdown(f"---\n\n{'#'*title_level} {nm}\n\n```\n{sym!r}\n```\n\n{doc}")

def _docs_get(mod, nm):
    "`nm` as the notebook defines it, else from the exported module `mod`."
    if nm in globals(): return globals()[nm]
    import importlib
    return getattr(importlib.import_module(mod), nm)
"""

class CellError(Exception): pass

def _want_doc(cell) -> bool:
    "Is `cell` an exported code cell whose definitions get `show_doc` (nbdev's rule)?"
    d = cell.directives_
    return (cell.cell_type == 'code' and bool(cell.source) and bool({'export', 'exports', 'exec_doc'} & d.keys())
            and 'hide' not in d and d.get('include:') != ['false'])

def _is_property(f) -> bool:
    return any(isinstance(d, ast.Name) and d.id == 'property' or isinstance(d, ast.Attribute) and d.attr in ('setter', 'getter', 'deleter')
               for d in f.decorator_list)

def doc_names(cell, shown: set) -> list[tuple[str, int]]:
    "(name, heading level) for each definition in exported `cell` not in `shown`: classes, functions, documented methods."
    from nbdev.showdoc import showdoc_nm
    res, shown = [], set(shown)
    def add(nm, level):
        if nm not in shown: res.append((nm, level)); shown.add(nm)   # once each (`@typedispatch` defines a name twice)
    for o in cell.parsed_() or []:
        if not isinstance(o, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): continue
        if o.name.startswith('_') and not o.name.startswith('__'): continue
        for nm in (showdoc_nm(o) if isinstance(showdoc_nm(o), list) else [showdoc_nm(o)]): add(nm, 3)
        if isinstance(o, ast.ClassDef):
            for f in o.body:
                if (isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and not f.name.startswith('_')
                        and ast.get_docstring(f) and not _is_property(f)): add(f'{o.name}.{f.name}', 4)
    return res

def shown_names(cells) -> set:
    "Names the notebook documents itself with `show_doc(name)`."
    from nbdev.processors import _show_docs, _get_nm
    res = set()
    for c in cells:
        if c.cell_type != 'code': continue
        for t in _show_docs(c.parsed_() or []):
            try: res.add(_get_nm(t))
            except Exception: pass
    return res

def _fm(cell) -> dict:
    "YAML frontmatter of a raw cell, if any."
    from nbdev.frontmatter import _fm2dict
    try: return _fm2dict(cell.source) or {}
    except Exception: return {}

def _seed(seed: int) -> None:
    "Seed Python's, NumPy's and torch's random numbers in this process, which the notebook's shell runs in."
    import random, numpy as np, torch
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)

def execute(src: Path, dst: Path, flags: set, extra_names: list[str] = ()) -> None:
    "Run notebook `src` like the test suite does, add `show_doc` cells, and write the executed notebook as JSON to `dst`."
    from execnb.shell import CaptureShell
    from nbdev.process import NBProcessor
    from fastcore.basics import str2bool
    from fastcore.xtras import working_directory
    nb = NBProcessor(src, rm_directives=False).nb   # sets `cell.directives_`, keeps the source as written
    fm = {}
    for c in nb.cells:
        if c.cell_type == 'raw': fm.update(_fm(c))
    run = not str2bool(fm.get('skip_exec', False))
    shown = shown_names(nb.cells)
    shell = CaptureShell(src)
    out = []
    with working_directory(src.parent):
        shell.run(_SETUP)
        if shell.exc: raise CellError(f'{src.name}: the docs build could not set up its shell: {shell.exc!r}')
        _seed(0)   # as the tests do (conftest.py): the run repeats exactly
        for i, cell in enumerate(nb.cells):
            d = cell.directives_
            cell.idx = i
            out.append(cell)
            if cell.cell_type != 'code': continue
            skip = ('nbdev_export(' in cell.source or d.get('eval:', [''])[0].lower() == 'false' or bool(flags & d.keys()))
            if not run or skip:
                cell.outputs = []
                continue
            shell.cell(cell)
            if shell.exc:
                raise CellError(f"{src.name}: cell {i} failed\n--- cell source ---\n{cell.source}\n"
                                f"--- traceback ---\n{shell.prettytb(fname=src)}")
            if _want_doc(cell):
                for nm, level in doc_names(cell, shown):
                    shown.add(nm)
                    out.append(_auto_show_doc(shell, src, i, nm, nm, level))
        # exported names still without docs (defined in a hidden cell, or `show_doc` rendered nothing for them)
        documented = {n for c in out for n in documented_names(c.get('outputs', []))}
        missing = [mn for mn in extra_names if mn.split(':')[1] not in documented] if run else []
        if missing:
            out.append(mk_cell('## Also exported\n\nNames this chapter exports that are not documented above.', 'markdown'))
            for mn in missing:
                mod, nm = mn.split(':')
                out.append(_auto_show_doc(shell, src, None, f'_docs_get({mod!r}, {nm!r})', nm, 3))
    cells = [dict(cell_type=c.cell_type, source=c.source, directives=c.directives_, idx=getattr(c, 'idx', None),
                  auto=getattr(c, 'auto', False), outputs=_plain(c.get('outputs', [])) if c.cell_type == 'code' else [])
             for c in out]
    dst.write_text(json.dumps(dict(cells=cells, frontmatter=fm), default=str), encoding='utf-8')

def _plain(o):
    "AttrDicts and lists from execnb as plain JSON-able dicts and lists."
    if isinstance(o, dict): return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [_plain(v) for v in o]
    return o

def documented_names(outputs) -> list[str]:
    "Names whose `show_doc` output is in `outputs`."
    res = []
    for o in outputs:
        md = o.get('data', {}).get('text/markdown')
        md = ''.join(md) if isinstance(md, list) else md
        if md and md.lstrip().startswith('---') and (m := _re_sd_head.search(md)): res.append(m.group(2).strip('`'))
    return res

def _auto_show_doc(shell, src, idx, expr, nm, level):
    "A code cell holding the output of `show_doc` for `expr` (named `nm`), run in `shell`."
    c = mk_cell(f'{_SD}({expr}, {nm!r}, title_level={level})')
    c.directives_, c.auto = {}, True
    shell.cell(c)
    if shell.exc:
        where = f'after cell {idx}' if idx is not None else 'at the end (it is in fastlit/_modidx.py: is that up to date? run nbdev_export)'
        raise CellError(f"{src.name}: documenting `{nm}` ({where}) failed: show_doc({expr}) raised\n"
                        f"{shell.prettytb(fname=src)}")
    return c

# --------------------------------------------------------------------------------------------------------------
# Step 2: the notebook a reader sees

_re_dir = re.compile(r'^\s*#\s*\|(.*)$')
_re_sd_head = re.compile(r'^(#{1,6})\s+(.+?)\s*$', re.MULTILINE)
_re_sd_src = re.compile(r'\[source\]\(([^)\s]+)\)(\{[^}]*\})?\s*')
_re_link = re.compile(r'(\]\()([^)\s]+?)(\s+"[^"]*")?\)')

def show_doc_md(md: str, seen: set) -> str | None:
    "The markdown of a `show_doc` output as a page section with an anchor, or None if `md` is not `show_doc` output."
    s = md.lstrip()
    if not s.startswith('---'): return None
    m = _re_sd_head.search(s)
    if not m: return None
    s = s[3:].lstrip()
    m = _re_sd_head.search(s)
    src = _re_sd_src.search(s[:m.start()])
    url = src.group(1) if src else None
    hashes, name = m.groups()
    name = name.strip('`')
    body = s[m.end():].strip()
    anchor, k = name.lower(), 0     # nbdev's anchor; names equal but for case (`swish`, `Swish`) get `-1`, `-2`...
    while anchor in seen: k += 1; anchor = f'{name.lower()}-{k}'
    seen.add(anchor)
    ident = f' id="{escape(anchor)}"'
    srclink = f'<a class="api-source reference external" href="{escape(url)}">source</a>\n\n' if url else ''
    return (f'<div class="{API_ANCHOR}"{ident} data-name="{escape(name)}"></div>\n\n'
            f'{hashes} `{name}`\n\n{srclink}{body}\n')

_re_callout = re.compile(r'^(\s*:::+)\s*\{\s*\.callout-(note|tip|warning|important|caution)[^}]*\}', re.MULTILINE)

def md_cell(md: str, here: str, pages: dict) -> str:
    "A markdown cell as Sphinx should read it: links to notebooks fixed, Quarto callouts as admonitions."
    return _re_callout.sub(lambda m: f'{m.group(1)}{{{m.group(2)}}}', fix_links(md, here, pages))

def strip_directives(src: str) -> str:
    "Code as shown: `#|` directive lines and `#| hide_line` lines removed, blank ends trimmed."
    lines = [l for l in src.splitlines() if not _re_dir.match(l) and not re.search(r'#\|\s*hide_line\s*$', l)]
    return '\n'.join(lines).strip('\n')

def fix_links(md: str, here: str, pages: dict) -> str:
    "Point markdown links at other notebooks (`01_x.ipynb`, `x.html`) at their prepared notebooks."
    base = posixpath.dirname(here)
    lookup = {**{pg + '.html': pg for pg in pages.values()}, **pages}
    def sub(m):
        url = m.group(2)
        if re.match(r'^[a-z][a-z0-9+.-]*:', url, re.I) or url.startswith(('#', '/')): return m.group(0)
        path, _, frag = url.partition('#')
        target = posixpath.normpath(posixpath.join(base, unquote(path)))
        page = lookup.get(target)
        if page is None: return m.group(0)
        rel = posixpath.relpath(page + '.ipynb', base or '.')
        return f'{m.group(1)}{rel}{"#" + frag if frag else ""}{m.group(3) or ""})'
    out, fence = [], False
    for line in md.split('\n'):
        if line.lstrip().startswith(('```', '~~~')): fence = not fence
        out.append(line if fence else _re_link.sub(sub, line))
    return '\n'.join(out)

def prepare(executed: dict, rel: str, pages: dict, title: str) -> dict:
    "Notebook (nbformat dict) a reader sees, from the `execute` output of notebook `rel`."
    here = pages[rel]
    cells, seen = [], set()
    def md(s): cells.append(dict(cell_type='markdown', metadata={}, source=s))
    for c in executed['cells']:
        d = c['directives']
        if 'hide' in d or d.get('include:') == ['false'] or c['cell_type'] == 'raw': continue
        if c['cell_type'] == 'markdown':
            if c['source'].strip(): md(md_cell(c['source'], here, pages))
            continue
        rest = []
        if d.get('output:') != ['false']:
            for o in c['outputs']:
                txt = o.get('data', {}).get('text/markdown')
                sd = show_doc_md(''.join(txt) if isinstance(txt, list) else txt, seen) if txt else None
                if sd: md(sd)      # show_doc output: becomes a section of the page (nbdev shows no source for it)
                else: rest.append(o)
        is_sd = c['auto'] or re.match(r'^\s*show_doc\(', strip_directives(c['source'])) is not None
        src = '' if is_sd or d.get('echo:') == ['false'] else strip_directives(c['source'])
        if not src and not rest: continue
        meta = {} if src else {'tags': ['remove-input']}
        cells.append(dict(cell_type='code', metadata=meta, source=src, execution_count=None, outputs=[_clean_out(o) for o in rest]))
    first_md = next((x for x in cells if x['cell_type'] == 'markdown'), None)
    if first_md is None or not re.match(r'^\s*#\s', first_md['source']):
        cells.insert(0, dict(cell_type='markdown', metadata={}, source=f'# {title}'))
    return dict(nbformat=4, nbformat_minor=4, cells=cells,
                metadata={'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
                          'language_info': {'name': 'python'}})

def terminal_text(s: str) -> str:
    "Text as a terminal would leave it: of a line rewritten with carriage returns (progress bars), the last version."
    return '\n'.join(next((seg for seg in reversed(l.split('\r')) if seg.strip()), '') if '\r' in l else l
                     for l in s.split('\n'))

def _clean_out(o: dict) -> dict:
    "An output in strict nbformat 4 shape."
    o = dict(o)
    t = o.get('output_type')
    if t == 'stream':
        o['text'] = terminal_text(''.join(o['text']) if isinstance(o.get('text'), list) else o.get('text', ''))
        return {k: o[k] for k in ('output_type', 'name', 'text')}
    if t in ('display_data', 'execute_result'):
        res = dict(output_type=t, data=o.get('data', {}), metadata=o.get('metadata', {}) or {})
        if t == 'execute_result': res['execution_count'] = None
        return res
    return o

def nb_title(executed: dict, page: str) -> str:
    "The notebook's first `# Title`, else its page name."
    for c in executed['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+?)\s*$', c['source'], re.MULTILINE)
            if m: return m.group(1)
    return page

# --------------------------------------------------------------------------------------------------------------
# Step 4: link backticked names, check links

_re_code = re.compile(r'<code class="docutils literal notranslate">((?:<span class="pre">[^<]*</span>)+)</code>')
_re_id = re.compile(r'''\sid=["']([^"']+)["']''')
_re_h = re.compile(r'<(/?)h[1-6][\s>]')
_re_api = re.compile(r'<div class="' + API_ANCHOR + r'"(?: id="([^"]+)")? data-name="([^"]+)"></div>'
                     r'(?:(?:\s*</section>)*\s*<section id="([^"]+)">)?')
_re_tag_id = re.compile(r'<[a-zA-Z][^<>]*?\sid="([^"]+)"[^<>]*>')

def collect_api(out: Path) -> dict:
    """Documented name -> [(page path relative to `out`, anchor), ...] in page order, from the anchors the build
    put on the pages. Where Sphinx gave the name's own section that same id, the anchor element drops its copy;
    where Sphinx gave it to something else (the chapter `Learner` and the class `Learner`), that element is renamed
    (`learner-section`, with the page's links to it) so the name's anchor is unique and leads to its docs."""
    from html import unescape
    res = {}
    for f in sorted(out.rglob('*.html')):
        rel = f.relative_to(out).as_posix()
        html = f.read_text(encoding='utf-8')
        anchors = set()
        def sub(m):
            ident, name, sec = m.group(1), unescape(m.group(2)), m.group(3)
            if ident: res.setdefault(name, []).append((rel, unescape(ident)))
            if ident and ident == sec: return m.group(0).replace(f' id="{ident}"', '', 1)
            if ident: anchors.add(ident)
            return m.group(0)
        new = _re_api.sub(sub, html)
        taken, renamed = set(_re_id.findall(new)), {}
        def ren(m):
            tag, ident = m.group(0), m.group(1)
            if API_ANCHOR in tag or ident not in anchors or ident in renamed: return tag
            k, alt = 0, f'{ident}-section'
            while alt in taken: k += 1; alt = f'{ident}-section-{k}'
            taken.add(alt); renamed[ident] = alt
            return tag.replace(f' id="{ident}"', f' id="{alt}"', 1)
        new = _re_tag_id.sub(ren, new)
        for old, alt in renamed.items(): new = new.replace(f'href="#{old}"', f'href="#{alt}"')
        if new != html: f.write_text(new, encoding='utf-8')
    return res

def link_targets(api: dict, syms: dict, modules: dict) -> dict:
    """Text of an inline code span -> (page, anchor) it links to: each documented name (on the page `_modidx.py`
    gives for it when it is documented there, else where it is first documented), its qualified name
    (`fastlit.transform.Transform`), and each module (`data.core`, `fastlit.data.core`) to its page."""
    res = {nm: occ[0] for nm, occ in api.items()}
    for mod, d in syms.items():
        for q, (loc, _) in d.items():
            nm, (page, _, anchor) = q[len(mod) + 1:], loc.partition('#')
            if nm not in api: continue
            if (page, anchor) in api[nm]: res[nm] = (page, anchor)
            res.setdefault(q, res[nm])
    for k, v in modules.items(): res.setdefault(k, v)
    return res

def link_names(out: Path, targets: dict) -> int:
    "Wrap inline code whose text is a documented name (or module) in a link to its docs; return how many."
    n = 0
    for f in sorted(out.rglob('*.html')):
        rel = f.relative_to(out).as_posix()
        if rel in ('genindex.html', 'search.html'): continue
        html = f.read_text(encoding='utf-8')
        def sub(m):
            nonlocal n
            text = re.sub(r'<[^>]+>', '', m.group(1)).replace('&#8217;', "'")
            key = text[:-2] if text.endswith('()') else text
            t = targets.get(key)
            if t is None: return m.group(0)
            before = html[:m.start()]
            if before.rfind('<a ') > before.rfind('</a>'): return m.group(0)   # already inside a link
            h = list(_re_h.finditer(before[-2000:]))
            if h and not h[-1].group(1): return m.group(0)                     # a heading: it is the target
            page, anchor = t
            href = '' if page == rel and anchor else posixpath.relpath(page, posixpath.dirname(rel) or '.')
            href += f'#{anchor}' if anchor else ''
            n += 1
            return f'<a class="reference internal api-link" href="{escape(href)}">{m.group(0)}</a>'
        new = _re_code.sub(sub, html)
        if new != html: f.write_text(new, encoding='utf-8')
    return n

_re_ref = re.compile(r'''<(a|link|img|script|source|iframe)\b[^>]*?\s(href|src)=["']([^"']*)["']''', re.I)

def check_links(out: Path, sources: dict | None = None) -> list[str]:
    """Every broken internal link, image or anchor in the HTML under `out`, as one line each naming the page (and
    the notebook it comes from, from `sources`: page -> notebook)."""
    ids, pages = {}, sorted(out.rglob('*.html'))
    for f in pages: ids[f.resolve()] = set(_re_id.findall(f.read_text(encoding='utf-8')))
    bad = []
    for f in pages:
        html = f.read_text(encoding='utf-8')
        rel = f.relative_to(out).as_posix()
        where = f'{sources[rel]} ({rel})' if sources and rel in sources else rel
        for m in _re_ref.finditer(html):
            url = m.group(3).replace('&amp;', '&')
            if not url or re.match(r'^[a-z][a-z0-9+.-]*:', url, re.I) or url.startswith('//'): continue
            parts = urlsplit(url)
            target = (f.parent/unquote(parts.path)).resolve() if parts.path else f.resolve()
            if target.is_dir(): target = target/'index.html'
            try: target.relative_to(out.resolve())
            except ValueError:
                bad.append(f'{where}: link {url!r} points outside the site'); continue
            if not target.exists():
                bad.append(f'{where}: link {url!r}: no such file in the site'); continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == '.html' and frag not in ids.get(target, set()):
                if not parts.path and re.search(r'[./]', frag):   # what myst makes of a link it could not resolve
                    bad.append(f'{where}: link to {frag!r}: no such notebook, page or file')
                else: bad.append(f'{where}: link {url!r}: no anchor #{frag} on {target.relative_to(out.resolve()).as_posix()}')
    return bad

# --------------------------------------------------------------------------------------------------------------
# The build

def log(*a): print(*a, file=sys.stderr, flush=True)

def _exec_all(nbs: Path, rels: list[str], work: Path, jobs: int, flags: str, extra: dict, timeout: int) -> list[str]:
    "Execute the notebooks `rels` in child processes, `jobs` at a time; return the error messages."
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // jobs)))
    env.pop('MPLBACKEND', None)   # the shell uses the inline backend, which is what draws plots into the page
    def one(i_rel):
        i, rel = i_rel
        t = time.time()
        cmd = [sys.executable, str(DOCS/'nbdocs.py'), 'exec', str(nbs/rel), str(work/f'{i}.json'), flags,
               ','.join(extra.get(rel, []))]
        try: p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired: return f'{rel}: did not finish within {timeout} s'
        log(f'  executed {rel} in {time.time()-t:.1f} s' + ('' if p.returncode == 0 else ' (FAILED)'))
        if p.returncode == 0: return None
        return f'{rel}: execution failed\n{p.stdout[-4000:]}{p.stderr[-8000:]}'
    with ThreadPoolExecutor(jobs) as ex: errs = list(ex.map(one, enumerate(rels)))
    return [e for e in errs if e]

def module_all(py: Path) -> set | None:
    "The names in `__all__` of the module file `py` (read, not imported), or None if it has none."
    try: tree = ast.parse(py.read_text(encoding='utf-8'))
    except (OSError, SyntaxError): return None
    for o in tree.body:
        if isinstance(o, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '__all__' for t in o.targets):
            try: return set(ast.literal_eval(o.value))
            except ValueError: return None

def _extra_names(rels: list[str], syms: dict) -> dict:
    "For each notebook, 'module:name' of the exported top-level names `_modidx.py` puts on its page."
    page_of = {page_name(r) + '.html': r for r in rels}
    res = {}
    for mod, d in syms.items():
        alls = None
        for q, (loc, py) in d.items():
            if alls is None: alls = module_all(ROOT/py) or set()
            nm, page = q[len(mod) + 1:], loc.split('#')[0]
            if '.' in nm or nm not in alls or page not in page_of: continue
            res.setdefault(page_of[page], []).append(f'{mod}:{nm}')
    return res

def _module_targets(executed: dict, rels: list[str], pages: dict) -> dict:
    "Module name (`data.core`, `fastlit.data.core`) -> (page, '') for each notebook with a `default_exp`."
    res = {}
    for rel in rels:
        for c in executed[rel]['cells']:
            m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', c['source'], re.MULTILINE) if c['cell_type'] == 'code' else None
            if m:
                res.setdefault(m.group(1), (pages[rel] + '.html', ''))
                res.setdefault('fastlit.' + m.group(1), (pages[rel] + '.html', ''))
                break
    return res

def build(out: Path, jobs: int = 2, keep: Path | None = None, timeout: int = 1200, nbs: Path | None = None) -> int:
    "Build the site into `out`; return the process exit code (0 when the site built and every check passed)."
    from nbdev.config import get_config
    t0 = time.time()
    cfg = get_config(path=ROOT)
    nbs = nbs or ROOT/cfg.get('nbs_path', 'nbs')
    rels = find_notebooks(nbs)
    if 'index.ipynb' not in rels:
        log(f'{nbs}/index.ipynb is missing: it becomes the home page _docs/index.html.'); return 1
    pages = {r: page_name(r) for r in rels}
    dup = {p for p in pages.values() if list(pages.values()).count(p) > 1}
    if dup:
        log(f'notebooks that would share a page: {[r for r, p in pages.items() if p in dup]}; rename one.'); return 1
    flags = ' '.join(cfg.get('tst_flags', '').split())
    if out.exists() and any(out.iterdir()) and not (out/'searchindex.js').exists():
        log(f'{out} is not empty and is not a site built before; give --out a new or empty folder.'); return 1
    if out.exists(): shutil.rmtree(out)    # a failed build leaves no stale site behind
    work = Path(tempfile.mkdtemp(prefix='fastlit-docs-')) if keep is None else keep
    if keep is not None:
        if keep.exists() and any(keep.iterdir()) and not (keep/'.fastlit-docs-work').exists():
            log(f'--keep {keep}: not empty and not an earlier --keep folder; give a new or empty folder.'); return 1
        shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True); (work/'.fastlit-docs-work').touch()
    try:
        syms = load_modidx()
        log(f'executing {len(rels)} notebooks, {jobs} at a time')
        errs = _exec_all(nbs, rels, work, jobs, flags, _extra_names(rels, syms), timeout)
        if errs:
            log('\n\n'.join(errs)); log(f'\ndocs build FAILED: {len(errs)} notebook(s) did not run'); return 1
        t1 = time.time()
        executed = {r: json.loads((work/f'{i}.json').read_text(encoding='utf-8')) for i, r in enumerate(rels)}
        src = work/'src'
        for rel in rels:
            nb = prepare(executed[rel], rel, pages, nb_title(executed[rel], pages[rel]))
            if rel == 'index.ipynb':
                toc = '\n'.join(pages[r] for r in rels if r != 'index.ipynb')
                nb['cells'].append(dict(cell_type='markdown', metadata={},
                                        source=f'```{{toctree}}\n:caption: Chapters\n:maxdepth: 1\n\n{toc}\n```'))
            dst = src/(pages[rel] + '.ipynb')
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(json.dumps(nb, indent=1), encoding='utf-8')
        warnfile, html = work/'sphinx-warnings.txt', work/'site'/'html'   # myst-nb writes next to the html folder
        cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '--keep-going', '-E', '-c', str(DOCS),
               '-d', str(work/'doctrees'), '-w', str(warnfile), '-j', str(jobs), str(src), str(html)]
        p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, 'FASTLIT_DOCS_TITLE': cfg.get('title', 'fastlit')})
        warns = warnfile.read_text(encoding='utf-8') if warnfile.exists() else ''
        if p.returncode != 0 or re.search(r':\s*(ERROR|CRITICAL|SEVERE)\b', warns):
            log('docs build FAILED: Sphinx could not render the notebooks (see the errors above).'); return 1
        shutil.copytree(html, out)
        missing = [r for r in rels if not (out/(pages[r] + '.html')).exists()]
        if missing: log(f'docs build FAILED: no page was rendered for {missing}'); return 1
        t2 = time.time()
        # names to link: every documented name, plus modules
        api = collect_api(out)
        targets = link_targets(api, syms, _module_targets(executed, rels, pages))
        undocumented = [f'{x.split(":")[1]} (from {x.split(":")[0]}, expected on {pages[rel]}.html)'
                        for rel, nms in _extra_names(rels, syms).items() for x in nms if x.split(':')[1] not in api
                        and not str(executed[rel]['frontmatter'].get('skip_exec', '')).lower() in ('true', '1', 'yes')]
        n = link_names(out, targets)
        bad = check_links(out, {pages[r] + '.html': f'{nbs.name}/{r}' for r in rels})
        if bad: log('docs build FAILED: broken internal links:\n  ' + '\n  '.join(bad))
        if undocumented: log('docs build FAILED: exported names without docs:\n  ' + '\n  '.join(undocumented))
        if bad or undocumented: return 1
        (out/'.nojekyll').touch()
        if (out/'_sources').is_dir() and not any((out/'_sources').iterdir()): (out/'_sources').rmdir()
        log(f'built {out} from {len(rels)} notebooks: execute {t1-t0:.0f} s, render {t2-t1:.0f} s, '
            f'{n} names linked, {len(targets)} link targets; total {time.time()-t0:.0f} s')
        return 0
    finally:
        if keep is None: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == 'exec':
    _, _, src, dst, flags, extra = sys.argv
    sys.path.insert(0, str(ROOT))
    try: execute(Path(src), Path(dst), set(flags.split()), [n for n in extra.split(',') if n])
    except CellError as e:
        print(e, file=sys.stderr); sys.exit(1)
