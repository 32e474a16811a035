"""One command that measures every GPU figure: the notebooks' CUDA cells, then each benchmark, with fastai and kornia
run side by side from wheels carried in the tree.

From the repository root, on a machine with a GPU (the device tool runs `bash bench/gpu_check.sh`, which calls this):

    python bench/gpu_check.py                 # the real run, about 8 minutes at most on one H100
    python bench/gpu_check.py --dry-run       # the same sequence on the CPU at tiny sizes (CI runs this)

In order, each step a subprocess with its own time budget (seconds; `--budget NAME=S` changes one), all of it within
`--deadline` (steps that would start after it are recorded as not run):

1. setup: link `../shared/data` to `.whl/data` if the checkout has no `../shared` (the device), install `.whl/fastlit`
   (fastcore 1.x, nbdev, execnb, IPython) with `pip install --no-index --target` if this Python lacks them, and
   `.whl/anchor` (fastai, fastcore 2.x, kornia) into a separate `--target` folder that only the anchor subprocesses
   see: they run through a small `anchor-python` script that sets `PYTHONPATH` to that folder alone, passed to the
   benchmarks as `--other-python`. `bash bench/fetch_anchor_wheels.sh` downloads all of that here (`.whl/` is
   git-ignored). Missing wheels cost only the anchor rows (skipped with a note).
2. notebooks: `pytest --flags cuda` over every notebook that has a `#| cuda` cell (with `-n`, one row per notebook);
   the dry run only collects them (CUDA cells cannot run on the CPU).
3. augment, learner, optimizer, vision_train (resnet18 and resnet50 at 224 px, short), then tabular, collab, text and
   distributed if `bench/<name>.py` exists ("not present" otherwise): each run as
   `bench/<name>.py --device cuda --json F [--other-python P]` (the dry run adds `--quick` and uses `--device cpu`).

A step that fails, times out or writes no valid JSON becomes an ERROR row with the end of its output, and the run goes
on. Into `--out` (default `bench/results/`; the dry run defaults to a temporary folder) it writes `gpu_check.json`,
`gpu_check.md` (the table, also printed at the end) and `gpu_check.log` (every step's command and output). The JSON:
`{"mode", "date", "commit", "device", "torch", "cuda", "python", "anchor", "steps": [{"name", "status", "seconds",
"budget", "cmd", "error"}], "rows": [{"step", "name", "value", "unit", "target", "pass", "note"}]}`, rows as in the
benchmark contract (COMMON.md) with the step added; `pass` is true/false against the target, null where there is no
target or no measurement (quick runs, the CPU). Exit status 1 if any step failed, else 0 (a MISS is not a failure).
"""
import argparse, datetime, json, os, re, shutil, signal, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MAX_LOG = 100_000     # characters of each step's output kept in the log

# name, script, extra arguments on the GPU, extra arguments in the dry run, GPU budget (s), dry-run budget (s), anchors
BENCHES = [
    ('augment', 'augment.py', [], ['--quick'], 110, 60, True),
    ('learner', 'learner.py', ['--repeats', '11'], ['--quick', '--repeats', '1'], 40, 60, False),
    ('optimizer', 'optimizer.py', ['--reps', '5'], ['--quick'], 40, 60, False),
    ('vision_train', 'vision_train.py', ['--archs', 'resnet18,resnet50', '--size', '224', '--bs', '256', '--n-train', '5120',
                                         '--n-valid', '1280', '--repeats', '3'],
     ['--quick', '--size', '32', '--n-train', '100', '--n-valid', '50'], 120, 90, False),
    ('tabular', 'tabular.py', [], ['--quick'], 45, 60, True),
    ('collab', 'collab.py', [], ['--quick'], 45, 60, True),
    ('text', 'text.py', [], ['--quick'], 45, 60, True),
    ('distributed', 'distributed.py', [], ['--quick'], 45, 60, True),
]
BUDGETS = dict(setup=(40, 30), notebooks=(100, 30))   # name: (GPU, dry run)


def sh(cmd, timeout, env=None, cwd=ROOT):
    "Run `cmd` in a process group of its own; (exit code or 'timeout', output, seconds). The group is killed at the end."
    t0 = time.time()
    try: p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors='replace', start_new_session=True)
    except OSError as e: return f"cannot start {cmd[0]}", f"{type(e).__name__}: {e}", 0.
    def kill():
        try: os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError): pass
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        kill(); rc = 'timeout'
        try: out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired as e:   # a grandchild in a session of its own still holds the pipe
            out = e.stdout.decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
    except BaseException:
        kill(); raise
    kill()   # what the step left running (compile workers, data loader workers) goes with it
    return rc, out, time.time() - t0


def tail(out:str, n:int=3) -> str:
    "The last `n` non-empty lines of `out`, on one line."
    lines = [l.strip() for l in out.strip().splitlines() if l.strip()]
    return ' / '.join(lines[-n:])[-400:]


class Check:
    "One run of the whole sequence: steps, rows, log."
    def __init__(self, a):
        self.a, self.t0 = a, time.time()
        self.steps, self.rows, self.log = [], [], []
        self.site = Path(a.site)
        self.env = dict(os.environ, PYTHONUNBUFFERED='1', MPLBACKEND='Agg')
        self.env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
        if a.dry_run and a.jobs > 1:
            for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): self.env[v] = '1'
        self.anchor, self.anchor_note, self.running = a.other_python, None, set()

    def left(self) -> float: return self.a.deadline - (time.time() - self.t0)

    def budget(self, name, default) -> float: return float(self.a.budgets.get(name, default))

    def step(self, name, status, seconds, budget, cmd=None, error=None, out='', row=True):
        self.steps.append(dict(name=name, status=status, seconds=round(seconds, 1), budget=budget,
                               cmd=' '.join(map(str, cmd)) if cmd else None, error=error))
        if row and status in ('error', 'timeout', 'out of time'):
            self.rows.append(dict(step=name, name=f"{name} (step)", value=None, unit=None, target=None,
                                  **{'pass': False}, note=f"{status}: {error}"))
        self.log.append(f"===== {name}: {status} in {seconds:.1f} s (budget {budget} s)\n$ "
                        f"{' '.join(map(str, cmd)) if cmd else ''}\n{out[-MAX_LOG:]}\n")
        print(f"[{time.time() - self.t0:6.1f} s] {name}: {status} ({seconds:.1f} s)" + (f": {error}" if error else ''),
              flush=True)

    def row(self, step, name, value=None, unit=None, target=None, ok=None, note=None):
        self.rows.append(dict(step=step, name=name, value=value, unit=unit, target=target, **{'pass': ok}, note=note))

    # ---- setup ----
    def compatible(self, whls) -> bool:
        "Whether every wheel in `whls` installs on this interpreter."
        try:
            from packaging.tags import sys_tags
            from packaging.utils import parse_wheel_filename
        except ImportError:   # pip carries its own copy
            from pip._vendor.packaging.tags import sys_tags
            from pip._vendor.packaging.utils import parse_wheel_filename
        mine = set(sys_tags())
        return all(parse_wheel_filename(w.name)[3] & mine for w in whls)

    def install(self, name, folder:Path, target:Path, timeout):
        "Install the wheels of `folder` into `target` (skipped when the same wheels are already there)."
        whls = sorted(folder.glob('*.whl'))
        stamp, want = target/'.gpu_check_wheels', '\n'.join(w.name for w in whls)
        if stamp.exists() and stamp.read_text() == want: return 0, 'already installed\n', 0.
        shutil.rmtree(target, ignore_errors=True)
        cmd = [PY, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile', '--no-cache-dir',
               '--disable-pip-version-check', '--target', str(target), *map(str, whls)]
        rc, out, s = sh(cmd, timeout)
        if rc == 0: stamp.write_text(want)
        return rc, f"$ {' '.join(cmd[:12])} ... ({len(whls)} wheels)\n{out}", s

    def setup(self):
        t0, budget, out, errors = time.time(), self.budget('setup', BUDGETS['setup'][self.a.dry_run]), [], []
        whl = Path(self.a.wheels)
        # data: the device has no ../shared beside the checkout
        data = ROOT.parent/'shared'/'data'
        if not data.exists() and (whl/'data').is_dir():
            try:
                data.parent.mkdir(parents=True, exist_ok=True); data.symlink_to((whl/'data').resolve())
                out.append(f"linked {data} -> {(whl/'data').resolve()}")
            except OSError as e: errors.append(f"could not link {data} to {whl/'data'}: {e}")
        elif not data.exists(): errors.append(f"no {data} and no {whl/'data'}: steps that read sample data will fail")
        # fastlit's own needs (fastcore 1.x, nbdev, execnb, IPython)
        probe = [PY, '-c', 'import fastcore, fastprogress, execnb, nbdev; assert fastcore.__version__ < "2", fastcore.__version__']
        if sh(probe, 60, self.env)[0] != 0:
            whls = sorted((whl/'fastlit').glob('*.whl'))
            if not whls: errors.append(f"this Python lacks fastcore 1.x/nbdev/execnb and {whl/'fastlit'} has no wheels")
            else:
                rc, o, _ = self.install('fastlit', whl/'fastlit', self.site/'fastlit', max(5, budget - (time.time() - t0)))
                out.append(o)
                if rc != 0: errors.append(f"installing {whl/'fastlit'} failed ({rc}): {tail(o)}")
                else: self.env['PYTHONPATH'] = os.pathsep.join([str(ROOT), str(self.site/'fastlit')] +
                                                               [p for p in [os.environ.get('PYTHONPATH')] if p])
        # the anchors (fastai, kornia), in a folder of their own
        if self.anchor:
            if not Path(self.anchor).exists(): errors.append(f"--other-python {self.anchor} does not exist"); self.anchor = None
        else:
            whls = sorted((whl/'anchor').glob('*.whl'))
            if not whls: self.anchor_note = f"no wheels in {whl/'anchor'} (run bash bench/fetch_anchor_wheels.sh): anchor rows skipped"
            elif not self.compatible(whls):
                self.anchor_note = (f"the wheels in {whl/'anchor'} are for the device (CPython 3.12 x86_64), not this "
                                    f"Python: anchor rows skipped")
            else:
                target = self.site/'anchor'
                rc, o, _ = self.install('anchor', whl/'anchor', target, max(5, budget - (time.time() - t0)))
                out.append(o)
                if rc != 0: errors.append(f"installing {whl/'anchor'} failed ({rc}): {tail(o)}")
                else:
                    self.anchor = str(self.site/'anchor-python')
                    Path(self.anchor).write_text(f'#!/bin/sh\n# fastai and kornia only: fastlit and its fastcore 1.x are not on this path\n'
                                                 f'PYTHONPATH="{target}" exec "{PY}" "$@"\n')
                    os.chmod(self.anchor, 0o755)
        if self.anchor:
            code = ('import importlib.metadata as m\nfor n in ("fastai", "fastcore", "kornia", "torch"):\n'
                    '    try: print(n, m.version(n))\n    except Exception as e: print(n, "missing")')
            rc, o, _ = sh([self.anchor, '-c', code], 60)
            out.append(f"anchor {self.anchor}:\n{o}")
            self.anchor_note = f"{self.anchor}: " + ', '.join(l.strip() for l in o.splitlines() if l.strip())
            if rc != 0: errors.append(f"the anchor interpreter {self.anchor} does not run: {tail(o)}"); self.anchor = None
        if self.anchor_note: self.row('setup', 'anchors (fastai, kornia)', note=self.anchor_note)
        s = time.time() - t0
        self.step('setup', 'error' if errors else 'ok', s, budget, error='; '.join(errors) or None, out='\n'.join(out))

    # ---- notebooks ----
    def notebooks(self):
        name, budget = 'notebooks', self.budget('notebooks', BUDGETS['notebooks'][self.a.dry_run])
        nbs = [f for f in sorted((ROOT/'nbs').glob('*.ipynb')) if not f.name.startswith('_') and
               (not self.a.nbs or any(k in f.name for k in self.a.nbs)) and
               any(c.get('cell_type') == 'code' and re.search(r'^\s*#\|\s*cuda\b', ''.join(c.get('source', '')), re.M)
                   for c in json.loads(f.read_text()).get('cells', []))]
        if not nbs: return self.step(name, 'ok', 0., budget, error=None, out='no notebook has a #| cuda cell')
        timeout = min(budget, self.left())
        if timeout < 5: return self.step(name, 'out of time', 0., budget, error='the deadline passed before it started')
        rel = [str(f.relative_to(ROOT)) for f in nbs]
        xml = Path(self.tmp)/'notebooks.xml'
        cmd = [PY, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--flags', 'cuda']
        if self.a.dry_run: cmd += ['--collect-only', *rel]
        else:
            has_xdist = sh([PY, '-c', 'import xdist'], 30, self.env)[0] == 0
            n = min(len(nbs), max(1, (os.cpu_count() or 2) - 2), 12)   # one round: 9 notebooks on 16 cores
            cmd += (['-n', str(n)] if has_xdist and n > 1 else []) + ['--junitxml', str(xml), *rel]
        rc, out, s = sh(cmd, timeout, self.env)
        if self.a.dry_run:
            got = [l.split('::')[0] for l in out.splitlines() if '::' in l]
            for r in rel: self.row(name, f"{r}: CUDA cells", note=('collected' if r in got else 'NOT collected')
                                   + '; dry run: not executed (the CUDA cells need a GPU)')
            ok = rc == 0 and all(r in got for r in rel)
            return self.step(name, 'ok' if ok else 'error', s, budget, cmd, None if ok else f"exit {rc}: {tail(out)}", out)
        seen = set()
        if xml.exists():
            for tc in ET.parse(xml).getroot().iter('testcase'):
                nb = next((r for r in rel if r.endswith(tc.get('name', '?'))), tc.get('name'))
                seen.add(nb)
                bad = tc.find('failure') if tc.find('failure') is not None else tc.find('error')
                skip = tc.find('skipped')
                note = None
                if bad is not None:
                    note = (bad.get('message') or '').strip().splitlines()[:1] + [tail(bad.text or '', 2)]
                    note = ' … '.join(n for n in note if n)
                elif skip is not None: note = 'skipped: ' + (skip.get('message') or '')
                self.row(name, f"{nb}: CUDA cells", float(tc.get('time', 0)), 's', None,
                         False if bad is not None else (None if skip is not None else True), note)
        for r in rel:
            if r not in seen: self.row(name, f"{r}: CUDA cells", ok=False, note=f"no result ({'timeout' if rc == 'timeout' else f'exit {rc}'})")
        status = 'timeout' if rc == 'timeout' else 'ok' if rc == 0 else 'error'
        # pytest's exit status 1 is "some notebooks failed": their rows say which and why
        self.step(name, status, s, budget, cmd, None if rc == 0 else f"{rc}: {tail(out)}", out, row=not (rc == 1 and seen))

    # ---- benchmarks ----
    def bench(self, spec):
        name, script, gpu_args, dry_args, b_gpu, b_dry, anchors = spec
        budget = self.budget(name, b_dry if self.a.dry_run else b_gpu)
        path = ROOT/'bench'/script
        if not path.exists():
            self.row(name, f"bench/{script}", note='not present')
            return self.step(name, 'not present', 0., budget)
        timeout = min(budget, self.left())
        if timeout < 5: return self.step(name, 'out of time', 0., budget, error='the deadline passed before it started')
        js = Path(self.tmp)/f"{name}.json"
        cmd = [PY, str(path.relative_to(ROOT)), '--device', self.device, '--json', str(js),
               *(dry_args if self.a.dry_run else gpu_args)]
        if anchors and self.anchor: cmd += ['--other-python', self.anchor]
        cmd += self.a.extra.get(name, [])
        rc, out, s = sh(cmd, timeout, self.env)
        rows, err = [], None
        if js.exists():
            try:
                d = json.loads(js.read_text())
                assert isinstance(d.get('rows'), list), 'no list "rows"'
                for r in d['rows']:
                    assert isinstance(r.get('name'), str), f'a row without a name: {r}'
                    rows.append(dict(step=name, name=r['name'], value=r.get('value'), unit=r.get('unit'),
                                     target=r.get('target'), **{'pass': r.get('pass')}, note=r.get('note')))
            except (ValueError, AssertionError) as e: err = f"{js.name} is not in the contract's format: {e}"
        elif rc == 0: err = f"exit 0 but no {js.name} written"
        self.rows += rows
        if rc != 0: err = f"{'timeout after %d s' % timeout if rc == 'timeout' else f'exit {rc}'}: {tail(out)}"
        status = 'timeout' if rc == 'timeout' else 'error' if err else 'ok'
        self.step(name, status, s, budget, cmd, err, out)

    def guarded(self, name, f, *args):
        "Run step `f`; an exception in gpu_check itself becomes that step's error, and the run goes on."
        t0 = time.time()
        self.running.add(name)
        try: f(*args)
        except Exception as e:
            import traceback
            self.step(name, 'error', time.time() - t0, '-', error=f"gpu_check.py: {type(e).__name__}: {e}",
                      out=traceback.format_exc())
        finally: self.running.discard(name)

    def run(self):
        self.tmp = tempfile.mkdtemp(prefix='gpu_check_')
        self.guarded('setup', self.setup)
        self.info = self.describe()
        self.device = self.a.device or ('cpu' if self.a.dry_run else 'cuda')
        if self.device == 'cuda' and not self.info.get('cuda_available'):
            self.step('cuda', 'error', 0., 0, error='torch sees no CUDA device: use --dry-run on a machine without one')
            return
        specs = [b for b in BENCHES if self.wanted(b[0])]
        if self.wanted('notebooks'): self.guarded('notebooks', self.notebooks)
        if self.a.jobs > 1:      # dry run only: the benchmarks two at a time, one thread each
            with ThreadPoolExecutor(self.a.jobs) as ex: list(ex.map(lambda b: self.guarded(b[0], self.bench, b), specs))
            order = {b[0]: i for i, b in enumerate(BENCHES)}
            self.steps.sort(key=lambda s: order.get(s['name'], -1))
            self.rows.sort(key=lambda r: order.get(r['step'], -1))
        else:
            for b in specs: self.guarded(b[0], self.bench, b)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wanted(self, name):
        return (not self.a.only or name in self.a.only) and name not in self.a.skip

    def describe(self) -> dict:
        code = ('import json, platform, torch\nc = torch.cuda.is_available()\n'
                'print(json.dumps(dict(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=c, '
                'python=platform.python_version(), device=torch.cuda.get_device_name() if c else '
                '(platform.processor() or platform.machine()) + " CPU")))')
        rc, out, _ = sh([PY, '-c', code], 120, self.env)
        try: info = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError): info = dict(error=tail(out))
        rc, commit, _ = sh(['git', 'describe', '--always', '--dirty'], 10)
        info['commit'] = commit.strip() if rc == 0 else 'unknown'
        return info


def fmt(v):
    if v is None: return '-'
    if isinstance(v, bool): return str(v)
    if isinstance(v, (int, float)): return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)


def cell(s) -> str: return str(s).replace('|', '\\|').replace('\n', ' ') if s is not None else ''


def result(r) -> str:
    if r['pass'] is True: return 'PASS'
    if r['pass'] is False: return 'MISS' if r['value'] is not None and r['target'] else 'ERROR'
    return '-'


def markdown(d) -> str:
    lines = [f"# GPU check ({d['mode']}): {d.get('device', '?')}", '',
             f"{d['date']} · torch {d.get('torch', '?')} (CUDA {d.get('cuda') or '-'}) · Python {d.get('python', '?')} · "
             f"commit {d.get('commit', '?')} · {d['seconds']:.0f} s in all (deadline {d['deadline']:.0f} s)", '']
    if d.get('anchor'): lines += [f"Anchors: {d['anchor']}", '']
    counts = {k: sum(result(r) == k for r in d['rows']) for k in ('PASS', 'MISS', 'ERROR')}
    lines += [f"**{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['ERROR']} ERROR**", '',
              '| step | status | seconds | budget |', '|---|---|---:|---:|']
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['budget']} |" for s in d['steps']]
    lines += ['', '| step | figure | value | unit | target | result | note |', '|---|---|---:|---|---|---|---|']
    lines += [f"| {r['step']} | {cell(r['name'])} | {fmt(r['value'])} | {cell(r['unit'] or '')} | {cell(r['target'] or '')} | "
              f"{result(r)} | {cell(r['note'])} |" for r in d['rows']]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n'.join(__doc__.splitlines()[1:]))
    ap.add_argument('--dry-run', action='store_true', help='the same sequence on the CPU at tiny sizes (CI)')
    ap.add_argument('--out', default=None, help='folder for gpu_check.json/.md/.log (default bench/results; '
                    'a temporary folder with --dry-run)')
    ap.add_argument('--deadline', type=float, default=None, help='seconds for the whole run (default 450; 170 dry)')
    ap.add_argument('--budget', action='append', default=[], metavar='NAME=S', help='time budget of one step, in seconds')
    ap.add_argument('--only', default='', help='comma-separated steps to run (setup always runs)')
    ap.add_argument('--skip', default='', help='comma-separated steps to leave out')
    ap.add_argument('--extra', action='append', default=[], metavar='NAME=ARGS', help='more arguments for one benchmark')
    ap.add_argument('--other-python', default=None, help='an interpreter with fastai and kornia (default: install .whl/anchor)')
    ap.add_argument('--wheels', default=str(ROOT/'.whl'), help='folder made by bench/fetch_anchor_wheels.sh')
    ap.add_argument('--site', default=os.path.join(tempfile.gettempdir(), 'fastlit_gpu_check_site'),
                    help='where the wheels are installed (--target folders)')
    ap.add_argument('--jobs', type=int, default=None, help='benchmarks at a time (default 1; 2 in the dry run)')
    ap.add_argument('--nbs', default='', help='comma-separated parts of notebook names: run only those notebooks')
    ap.add_argument('--device', default=None, help=argparse.SUPPRESS)   # testing the GPU sequence elsewhere (cpu)
    a = ap.parse_args()
    a.budgets = dict(b.split('=', 1) for b in a.budget)
    a.extra = {k: v.split() for k, v in (e.split('=', 1) for e in a.extra)}
    a.only, a.skip = set(filter(None, a.only.split(','))), set(filter(None, a.skip.split(',')))
    a.nbs = [k for k in a.nbs.split(',') if k]
    if a.deadline is None: a.deadline = 170. if a.dry_run else 450.
    if a.jobs is None: a.jobs = 2 if a.dry_run else 1
    if a.jobs > 1 and not a.dry_run: ap.error('--jobs > 1 only with --dry-run: timings on a GPU must not overlap')
    out = Path(a.out or (os.path.join(tempfile.gettempdir(), 'fastlit_gpu_check_dry') if a.dry_run else ROOT/'bench'/'results'))
    out.mkdir(parents=True, exist_ok=True)
    c = Check(a)
    def stop(sig, frame): raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, stop)   # `timeout` stops us: still write what we have
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    try: c.run()
    except KeyboardInterrupt as e:
        c.step('interrupted', 'error', 0., '-', error=f"stopped ({e or 'Ctrl-C'}) during {', '.join(sorted(c.running)) or '-'}")
    finally:
        info = getattr(c, 'info', {})
        d = dict(mode='dry run (CPU, tiny sizes)' if a.dry_run else 'GPU', date=date, seconds=time.time() - c.t0,
                 deadline=a.deadline, **{k: info.get(k) for k in ('commit', 'device', 'torch', 'cuda', 'python')},
                 anchor=c.anchor_note, steps=c.steps, rows=c.rows)
        (out/'gpu_check.json').write_text(json.dumps(d, indent=1))
        md = markdown(d)
        (out/'gpu_check.md').write_text(md)
        (out/'gpu_check.log').write_text('\n'.join(c.log))
        print('\n' + md)
        print(f"written: {out/'gpu_check.json'}, {out/'gpu_check.md'}, {out/'gpu_check.log'}")
    failed = [s['name'] for s in c.steps if s['status'] not in ('ok', 'not present')]
    if failed: print(f"failed steps: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == '__main__': main()
