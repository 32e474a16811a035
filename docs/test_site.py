#!/usr/bin/env python3
"""Open the built site in headless Chromium and check what a reader sees.

Usage: python docs/test_site.py [_docs] [--chromium /usr/bin/chromium]

Serves the site on 127.0.0.1 (a free port, in a thread) and loads pages in Chromium through a small same-origin
harness page that reads the rendered DOM:
- the home page shows its title (the `# Title` of `nbs/index.ipynb`) as heading and in the window title;
- a page with a plot (found by looking for a rendered image in the built pages) shows it, loaded (non-zero size);
- clicking a link to another page's docs opens that page, which shows its own title and the link's anchor;
- the search page finds a documented name.
Saves a screenshot of the plot to `<site>/screenshot.png` (kept as a CI artifact). Exits 1 naming each failed check.
"""
import argparse, functools, http.server, json, re, shutil, socketserver, subprocess, sys, tempfile, threading
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage', '--hide-scrollbars']
HARNESS = '/__fastlit_check__.html'

# The harness loads PAGE in an iframe, records its title and images, clicks LINK, records the page that opens, then
# runs a search for QUERY. Results go into <pre id="result"> as JSON, which `--dump-dom` prints.
HARNESS_HTML = """<!doctype html><html><body><pre id="result">pending</pre><iframe id="f" width="1200" height="900"></iframe>
<script>
const PAGE = %(page)s, LINK = %(link)s, QUERY = %(query)s;
const f = document.getElementById('f'), res = {};
const done = () => { document.getElementById('result').textContent = JSON.stringify(res); };
const wait = (cond, then, n=100) => cond() ? then() : (n ? setTimeout(() => wait(cond, then, n-1), 100) : then());
function info(doc) {
  const h1 = doc.querySelector('article h1');
  return {url: doc.location.pathname + doc.location.hash, h1: h1 ? h1.textContent.replace('\\u00b6', '').trim() : null,
          title: doc.title};
}
function step3() {   // search
  f.onload = () => wait(() => f.contentDocument.querySelectorAll('#search-results li').length > 0, () => {
    const items = [...f.contentDocument.querySelectorAll('#search-results li a')].map(a => a.getAttribute('href'));
    res.search = {query: QUERY, hits: items.slice(0, 20)}; done(); });
  f.src = 'search.html?q=' + encodeURIComponent(QUERY);
}
function step2() {   // follow a link by clicking it
  const doc = f.contentDocument, a = [...doc.querySelectorAll('a')].find(x => x.getAttribute('href') === LINK);
  if (!a) { res.link = {error: 'link not found: ' + LINK}; return step3(); }
  f.onload = () => { const d = f.contentDocument, id = decodeURIComponent(d.location.hash.slice(1));
    res.link = Object.assign(info(d), {href: LINK, target: id ? !!d.getElementById(id) : null}); step3(); };
  a.click();
}
f.onload = () => {   // the page with the plot
  const doc = f.contentDocument;
  res.page = info(doc);
  res.images = [...doc.querySelectorAll('.cell_output img')].map(i => ({src: i.getAttribute('src'), complete: i.complete,
                                                                          w: i.naturalWidth, h: i.naturalHeight}));
  step2();
};
f.src = PAGE;
</script></body></html>"""


# The screenshot page shows PAGE full-window, scrolled so that its image IMG is in view.
SHOT_HTML = """<!doctype html><html><body style="margin:0"><iframe id="f" style="border:0;width:100vw;height:100vh"></iframe>
<script>
const PAGE = %(page)s, IMG = %(img)s, f = document.getElementById('f');
f.onload = () => { const i = IMG && [...f.contentDocument.querySelectorAll('img')].find(x => x.getAttribute('src') === IMG);
                   if (i) { f.contentDocument.documentElement.style.scrollBehavior = 'auto'; i.scrollIntoView({block: 'center', behavior: 'instant'}); } };
f.src = PAGE;
</script></body></html>"""


class Handler(http.server.SimpleHTTPRequestHandler):
    "Serves the site, plus the harness page at HARNESS."
    harness = b''
    def do_GET(self):
        if self.path.split('?')[0] == HARNESS:
            self.send_response(200); self.send_header('Content-Type', 'text/html; charset=utf-8')
            self.send_header('Content-Length', str(len(self.harness))); self.end_headers()
            self.wfile.write(self.harness)
        else: super().do_GET()
    def log_message(self, *a): pass


def serve(site: Path):
    "Start a server for `site` on a free port of 127.0.0.1; return it (its port is `server.server_address[1]`)."
    srv = socketserver.ThreadingTCPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(site)))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def chromium(exe, profile, *args, timeout=120):
    "Run headless Chromium with the CI flags; return its stdout."
    cmd = [exe, *FLAGS, f'--user-data-dir={profile}', *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0: raise RuntimeError(f'{" ".join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}')
    return p.stdout


def html_pages(site: Path):
    skip = {'genindex.html', 'search.html'}
    return [f for f in sorted(site.rglob('*.html')) if f.relative_to(site).as_posix() not in skip]


class _OutputImages(HTMLParser):
    "Collects the src of each <img> inside a notebook cell's output (`<div class=\"cell_output ...\">`)."
    def __init__(self):
        super().__init__()
        self.stack, self.srcs = [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'div': self.stack.append('cell_output' in (a.get('class') or '').split())
        if tag == 'img' and any(self.stack) and re.search(r'\.(png|svg)$', a.get('src') or ''): self.srcs.append(a['src'])
    def handle_endtag(self, tag):
        if tag == 'div' and self.stack: self.stack.pop()


def nav_order(site: Path):
    "The site's pages in navigation order: the home page, then the chapters as its table of contents lists them."
    hrefs = re.findall(r'<a class="reference internal" href="([^"#]+\.html)"', (site/'index.html').read_text(encoding='utf-8'))
    pages = [site/'index.html'] + [site/unescape(h) for h in dict.fromkeys(hrefs)]
    rest = [p for p in html_pages(site) if p not in pages]
    return [p for p in pages if p.exists()] + rest


def find_plot_page(site: Path):
    "(page, image src) of the first page, in navigation order, whose cell output shows a png/svg image."
    for f in nav_order(site):
        parser = _OutputImages()
        parser.feed(f.read_text(encoding='utf-8'))
        if parser.srcs: return f, parser.srcs[0]
    return None, None


def pick_link(page: Path, site: Path):
    "A link on `page` to another page of the site: a linked name if there is one, else the first navigation link."
    html = page.read_text(encoding='utf-8')
    for pat in (r'<a class="reference internal api-link" href="([^"#]+\.html#[^"]+)"',
                r'<a class="reference internal" href="([^"#]+\.html)"'):
        for m in re.finditer(pat, html):
            href = unescape(m.group(1))
            if (page.parent/href.split('#')[0]).resolve() != page.resolve(): return href
    return None


def index_title(nbs: Path):
    "The first `# Title` of `nbs/index.ipynb`, or None if it cannot be read."
    try: cells = json.loads((nbs/'index.ipynb').read_text(encoding='utf-8'))['cells']
    except (OSError, ValueError, KeyError): return None
    for c in cells:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+?)\s*$', ''.join(c['source']), re.M)
            if m: return m.group(1)


def main(site: Path, exe: str, nbs: Path) -> int:
    fails = []
    def check(ok, what):
        print(('ok    ' if ok else 'FAIL  ') + what)
        if not ok: fails.append(what)
    if not (site/'index.html').exists(): print(f'{site}/index.html missing: run docs/build first'); return 1
    srv = serve(site)
    base = f'http://127.0.0.1:{srv.server_address[1]}/'
    profile = tempfile.mkdtemp(prefix='fastlit-chromium-')
    try:
        # 1. the home page shows its title
        dom = chromium(exe, profile, '--dump-dom', base + 'index.html')
        want = index_title(nbs)
        h1 = re.search(r'<h1>(.*?)<a class="headerlink"', dom, re.S)
        h1 = unescape(re.sub(r'<[^>]+>', '', h1.group(1))).strip() if h1 else None
        title = re.search(r'<title>(.*?)</title>', dom, re.S)
        title = unescape(title.group(1)).strip() if title else ''
        check(h1 is not None and (want is None or h1 == want), f'home page heading is {h1!r} (notebook title {want!r})')
        check(bool(h1) and title.startswith(h1), f'home page window title {title!r} starts with its heading')
        # 2-4. a page with a plot, a link on it, search
        page, img = find_plot_page(site)
        check(page is not None, 'a built page shows a plot (png/svg cell output)')
        if page is None: page = site/'index.html'
        rel = page.relative_to(site).as_posix()
        link = pick_link(page, site)
        check(link is not None, f'{rel} links to another page')
        named = [(f, m.group(1)) for f in html_pages(site) for m in [re.search(r'data-name="([^"]+)"', f.read_text(encoding='utf-8'))] if m]
        qpage, query = (named[0][0].relative_to(site).as_posix(), unescape(named[0][1])) if named else ('index.html', want or 'fastlit')
        # screenshot of the plot page scrolled to the plot, taken before the harness runs a search
        # (Sphinx keeps search terms in the browser's storage and would then highlight them on every page)
        shot = site/'screenshot.png'
        Handler.harness = (SHOT_HTML % dict(page=json.dumps(rel), img=json.dumps(img))).encode()
        chromium(exe, profile, f'--screenshot={shot}', '--window-size=1280,1200', '--virtual-time-budget=10000',
                 base + HARNESS.lstrip('/'))
        check(shot.exists() and shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', f'screenshot of {rel} (scrolled to its plot) saved to {shot}')
        Handler.harness = (HARNESS_HTML % dict(page=json.dumps(rel), link=json.dumps(link), query=json.dumps(query))).encode()
        dom = chromium(exe, profile, '--dump-dom', '--virtual-time-budget=20000', base + HARNESS.lstrip('/'))
        m = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
        try: res = json.loads(unescape(m.group(1)))
        except (AttributeError, ValueError): res = {}
        check(bool(res), 'the check page ran in the browser' + ('' if res else f' (got {(m.group(1) if m else dom)[:300]!r})'))
        pg = res.get('page', {})
        check(bool(pg.get('h1')) and pg.get('title', '').startswith(pg.get('h1') or '\0'),
              f'{rel} shows its title {pg.get("h1")!r} (window title {pg.get("title")!r})')
        if img:
            shown = [i for i in res.get('images', []) if i['src'] == img]
            check(bool(shown) and shown[0]['complete'] and shown[0]['w'] > 0 and shown[0]['h'] > 0,
                  f'{rel}: plot {img} loaded in the browser ({shown[0]["w"] if shown else 0}x{shown[0]["h"] if shown else 0} px)')
            check((page.parent/img).read_bytes()[:8] in (b'\x89PNG\r\n\x1a\n',) or img.endswith('.svg'),
                  f'{img} is a valid PNG/SVG file')
        ln = res.get('link', {})
        target = (page.parent/(link or '').split('#')[0]).resolve()
        want_url = '/' + target.relative_to(site.resolve()).as_posix() if link else None
        check(link is not None and not ln.get('error') and ln.get('url', '').split('#')[0] == want_url
              and bool(ln.get('h1')) and ln.get('target') is not False,
              f'clicking {link!r} opens {ln.get("url")!r} showing {ln.get("h1")!r} (anchor present: {ln.get("target")})')
        se = res.get('search', {})
        hits = se.get('hits', [])
        check(any(h.split('#')[0] == qpage for h in hits), f'search for {query!r} finds its page {qpage} ({len(hits)} result(s): {hits[:3]})')
    finally:
        srv.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print(f'{len(fails)} check(s) failed' if fails else 'all site checks passed')
    return 1 if fails else 0


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description='Check the built docs site in headless Chromium.')
    ap.add_argument('site', nargs='?', type=Path, default=ROOT/'_docs')
    ap.add_argument('--chromium', default=shutil.which('chromium') or '/usr/bin/chromium')
    ap.add_argument('--nbs', type=Path, default=ROOT/'nbs', help='notebook folder (for the expected home page title)')
    a = ap.parse_args()
    sys.exit(main(a.site.resolve(), a.chromium, a.nbs))
