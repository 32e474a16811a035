"""Tests of the docs build (`docs/nbdocs.py`). Run: `pytest docs/test_build.py` (the main suite only collects nbs/)."""
import json, sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbdocs
from nbdocs import (page_name, find_notebooks, strip_directives, show_doc_md, fix_links, prepare, check_links,
                    link_names, collect_api, link_targets, md_cell, module_all)


def mk_nb(path: Path, *cells):
    "Write a notebook of `cells` ('md: text' or code) to `path`."
    cs = [dict(cell_type='markdown', metadata={}, source=c[4:]) if c.startswith('md: ') else
          dict(cell_type='code', metadata={}, source=c, outputs=[], execution_count=None) for c in cells]
    path.write_text(json.dumps(dict(cells=cs, metadata={'kernelspec': {'name': 'python3', 'language': 'python',
                                    'display_name': 'python3'}}, nbformat=4, nbformat_minor=5)))


def test_page_name():
    assert page_name('00_dispatch.ipynb') == 'dispatch'
    assert page_name('03_data.load.ipynb') == 'data.load'      # the page nbdev's _modidx.py links to
    assert page_name('index.ipynb') == 'index'
    assert page_name('tutorials/01a_Intro.ipynb') == 'tutorials/intro'


def test_find_notebooks_order(tmp_path):
    for n in ['10_b.ipynb', '2_a.ipynb', 'index.ipynb', '_draft.ipynb', '.ipynb_checkpoints/x.ipynb', 'sub/01_c.ipynb']:
        (tmp_path/n).parent.mkdir(parents=True, exist_ok=True); (tmp_path/n).write_text('{}')
    assert find_notebooks(tmp_path) == ['index.ipynb', '2_a.ipynb', '10_b.ipynb', 'sub/01_c.ipynb']


def test_strip_directives():
    assert strip_directives('#| export\n#|eval: false\ndef f(): pass\nx = 1 #| hide_line\ny = 2\n') == 'def f(): pass\ny = 2'
    assert strip_directives('#| default_exp core\n') == ''


SD = '---\n\n[source](https://github.com/x/y/blob/main/m.py#L3){target="_blank" style="float:right"}\n\n### Foo.bar\n\n```python\ndef bar(\n    x\n):\n```\n\n*Do `bar`.*'

def test_show_doc_md():
    seen = set()
    md = show_doc_md(SD, seen)
    assert '<div class="api-anchor" id="foo.bar" data-name="Foo.bar"></div>' in md   # nbdev's anchor: lower case
    assert '### `Foo.bar`' in md and 'href="https://github.com/x/y/blob/main/m.py#L3"' in md and '{target' not in md
    assert '*Do `bar`.*' in md and not md.lstrip().startswith('---')
    assert 'id="foo.bar-1"' in show_doc_md(SD.replace('Foo.bar', 'foo.Bar'), seen)   # same anchor but for case
    assert show_doc_md('| a | b |', set()) is None and show_doc_md('---\n\nno heading', set()) is None


def test_fix_links():
    pages = {'index.ipynb': 'index', '00_dispatch.ipynb': 'dispatch', 'sub/01_c.ipynb': 'sub/c'}
    md = '[a](00_dispatch.ipynb#retain_type) [b](dispatch.html) [c](https://x.org/00_dispatch.ipynb) [d](#here)\n```\n[e](00_dispatch.ipynb)\n```'
    out = fix_links(md, 'index', pages)
    assert '[a](dispatch.ipynb#retain_type)' in out and '[b](dispatch.ipynb)' in out
    assert '[c](https://x.org/00_dispatch.ipynb)' in out and '[d](#here)' in out and '[e](00_dispatch.ipynb)' in out
    assert fix_links('[x](../00_dispatch.ipynb)', 'sub/c', pages) == '[x](../dispatch.ipynb)'
    assert md_cell('::: {.callout-note}\nhi\n:::', 'index', pages) == ':::{note}\nhi\n:::'


def _ex(*cells):
    "An `execute` result made of (cell_type, source, directives, outputs) tuples."
    return dict(cells=[dict(cell_type=t, source=s, directives=d, outputs=o, auto=False, idx=i)
                       for i, (t, s, d, o) in enumerate(cells)], frontmatter={})

def test_prepare():
    png = dict(output_type='display_data', data={'image/png': 'iVBOR\n', 'text/plain': ['<Figure>']}, metadata={})
    ex = _ex(('markdown', '# Title\n\nSee [d](00_dispatch.ipynb).', {}, []),
             ('code', '#| hide\nimport secret', {'hide': []}, []),
             ('code', '#| export\ndef f(): pass', {'export': []}, []),
             ('code', '#| echo: false\nplot()', {'echo:': ['false']}, [png]),
             ('code', 'noisy()', {'output:': ['false']}, [png]),
             ('code', 'show_doc(f)', {}, [dict(output_type='display_data', data={'text/markdown': SD}, metadata={})]),
             ('raw', '---\ntitle: x\n---', {}, []))
    nb = prepare(ex, 'index.ipynb', {'index.ipynb': 'index', '00_dispatch.ipynb': 'dispatch'}, 'Title')
    srcs = [c['source'] for c in nb['cells']]
    assert srcs[0] == '# Title\n\nSee [d](dispatch.ipynb).'
    assert 'import secret' not in ''.join(srcs) and 'def f(): pass' in srcs
    plot = nb['cells'][2]
    assert plot['source'] == '' and plot['metadata'] == {'tags': ['remove-input']} and plot['outputs'][0]['data'] == png['data']
    assert nb['cells'][3]['outputs'] == []                          # output: false
    assert nb['cells'][4]['cell_type'] == 'markdown' and 'data-name="Foo.bar"' in nb['cells'][4]['source']
    assert len(nb['cells']) == 5                                     # show_doc source and the raw cell are gone
    nb = prepare(_ex(('code', 'x = 1', {}, [])), 'index.ipynb', {'index.ipynb': 'index'}, 'Home')
    assert nb['cells'][0]['source'] == '# Home'                     # a title is added where the notebook has none


def test_terminal_text():
    assert nbdocs.terminal_text('a\n\u2588\r\r |--| 0%\r |##| 100%\nb\r\n') == 'a\n |##| 100%\nb\n'


def test_module_all(tmp_path):
    (tmp_path/'m.py').write_text("__all__ = ['a', 'B']\ndef a(): pass\n")
    assert module_all(tmp_path/'m.py') == {'a', 'B'}
    (tmp_path/'n.py').write_text("x = 1\n")
    assert module_all(tmp_path/'n.py') is None


CODE = '<code class="docutils literal notranslate"><span class="pre">{}</span></code>'

def test_links_and_checks(tmp_path):
    (tmp_path/'sub').mkdir()
    (tmp_path/'a.html').write_text(f'<h1 id="a">A</h1><div class="api-anchor" id="foo" data-name="Foo"></div>\n<section id="foo"><h2>{CODE.format("Foo")}</h2>'
                                   f'<p>{CODE.format("Foo()")} {CODE.format("mod")} <a href="x.html">{CODE.format("Foo")}</a> {CODE.format("other")}</p>'
                                   '<img src="_images/p.png"><a href="#a">top</a></section>')
    (tmp_path/'sub/b.html').write_text(f'<p>{CODE.format("fastlit.mod.Foo")}</p><a href="../a.html#nope">x</a>'
                                       '<a href="missing.html">y</a><a href="https://example.com">z</a>')
    (tmp_path/'x.html').write_text('<p>x</p>')
    (tmp_path/'c.html').write_text('<section id="bar"><h1>Bar<a href="#bar">#</a></h1><div class="api-anchor" id="bar" data-name="Bar"></div>'
                                   '</section>\n<section id="id1"><h2>Bar</h2></section><div class="api-anchor" id="baz" data-name="Baz"></div>'
                                   '</section></section><section id="baz"><h2>Baz</h2></section>')
    api = collect_api(tmp_path)
    assert api.pop('Bar') == [('c.html', 'bar')] and api.pop('Baz') == [('c.html', 'baz')]
    c = (tmp_path/'c.html').read_text()    # the chapter titled like the class gives its id to the class's docs
    assert '<section id="bar-section"><h1>Bar<a href="#bar-section">' in c and '<div class="api-anchor" id="bar"' in c
    assert '<div class="api-anchor" data-name="Baz"></div></section></section><section id="baz">' in c
    assert check_links(tmp_path, {}) == ["a.html: link '_images/p.png': no such file in the site",
        "sub/b.html: link '../a.html#nope': no anchor #nope on a.html", "sub/b.html: link 'missing.html': no such file in the site"]
    (tmp_path/'c.html').unlink()
    assert api == {'Foo': [('a.html', 'foo')]}
    assert '<div class="api-anchor" data-name="Foo">' in (tmp_path/'a.html').read_text()   # Sphinx's section has the id
    targets = link_targets(api, {'fastlit.mod': {'fastlit.mod.Foo': ('a.html#foo', 'fastlit/mod.py')}}, {'mod': ('a.html', '')})
    assert targets == {'Foo': ('a.html', 'foo'), 'fastlit.mod.Foo': ('a.html', 'foo'), 'mod': ('a.html', '')}
    assert link_names(tmp_path, targets) == 3
    a = (tmp_path/'a.html').read_text()
    assert f'<a class="reference internal api-link" href="#foo">{CODE.format("Foo()")}</a>' in a
    assert f'<a class="reference internal api-link" href="a.html">{CODE.format("mod")}</a>' in a
    assert f'<h2>{CODE.format("Foo")}</h2>' in a                                   # headings are left alone
    assert f'<a href="x.html">{CODE.format("Foo")}</a>' in a                        # so are existing links
    assert f'<a class="reference internal api-link" href="../a.html#foo">' in (tmp_path/'sub/b.html').read_text()
    bad = check_links(tmp_path, {'sub/b.html': 'nbs/01_b.ipynb'})
    assert "a.html: link '_images/p.png': no such file in the site" in bad
    assert "nbs/01_b.ipynb (sub/b.html): link '../a.html#nope': no anchor #nope on a.html" in bad
    assert "nbs/01_b.ipynb (sub/b.html): link 'missing.html': no such file in the site" in bad
    assert len(bad) == 3


def test_build_end_to_end(tmp_path, capfd):
    "A small notebook folder builds into a site with a plot, docs for a definition, and a linked name."
    nbs = tmp_path/'nbs'; nbs.mkdir()
    mk_nb(nbs/'index.ipynb', 'md: # Home\n\nSee `double` and [the chapter](01_one.ipynb).')
    mk_nb(nbs/'01_one.ipynb', 'md: # One\n\nIt has `double`.', '#| export\ndef double(x:int, # a number\n          ): "Twice `x`."; return 2*x',
          '#| hide\nfrom fastcore.test import test_eq', 'test_eq(double(2), 4)',
          'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);', '#| slow\nraise Exception("slow cells are skipped")')
    out = tmp_path/'site'
    assert nbdocs.build(out, nbs=nbs, jobs=2) == 0, capfd.readouterr().err
    one = (out/'one.html').read_text()
    assert 'data-name="double"' in one and 'Twice' in one and '<img' in one and 'test_eq' in one
    assert 'from fastcore.test' not in one and 'slow cells are skipped' in one      # hidden cell gone, slow cell shown
    assert 'href="one.html#double"' in (out/'index.html').read_text()
    assert (out/'search.html').exists() and (out/'searchindex.js').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['nbs', 'site']          # nothing left beside the site
    # a failing cell fails the build, naming the notebook and the cell
    mk_nb(nbs/'02_bad.ipynb', 'md: # Bad', 'x = 1', '1/0')
    capfd.readouterr()
    assert nbdocs.build(out, nbs=nbs, jobs=2) == 1
    err = capfd.readouterr().err
    assert not out.exists()                                                        # no stale site is left
    assert '02_bad.ipynb: cell 2 failed' in err and 'ZeroDivisionError' in err and '1/0' in err


def test_build_refuses_to_delete_other_folders(tmp_path):
    (tmp_path/'nbs').mkdir(); mk_nb(tmp_path/'nbs'/'index.ipynb', 'md: # Home')
    (tmp_path/'precious').mkdir(); (tmp_path/'precious'/'data.txt').write_text('keep me')
    assert nbdocs.build(tmp_path/'precious', nbs=tmp_path/'nbs') == 1
    assert nbdocs.build(tmp_path/'site', nbs=tmp_path/'nbs', keep=tmp_path/'precious') == 1
    assert (tmp_path/'precious'/'data.txt').read_text() == 'keep me'
