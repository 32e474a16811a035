"""Runs each notebook in `nbs/` as one pytest item, the way `nbdev_test` does.

Cells flagged with a `tst_flags` flag (`#| slow`, `#| cuda`) are skipped unless forced with
`pytest --flags "slow cuda"`; cells marked `#| eval: false` never run; each notebook runs
with its own folder as the working directory, in a fresh Python process of its own (so classes,
patches and settings made by one notebook never leak into the next), seeded with 0 (torch starts
each process from a random seed, so without it a run could not be repeated). A failure names the
notebook, the cell and its source, then shows the traceback.
"""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# Under `pytest -n N` each worker gets one thread for torch/BLAS: N workers on N cores, not N*N threads fighting.
if os.environ.get('PYTEST_XDIST_WORKER'):
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(var, '1')


def seed_everything(seed:int=0):
    "Seed Python's, NumPy's and torch's random numbers, so that a notebook's run repeats exactly."
    import random, numpy as np, torch
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)


def run_notebook(fn:Path, force_flags:set) -> dict:
    "Execute notebook `fn` in this process; the outcome as a dict (`ok`, and the failing cell if not)."
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from fastcore.basics import str2bool
    from fastcore.xtras import working_directory
    os.environ['IN_TEST'] = '1'
    os.environ.setdefault('MPLBACKEND', 'Agg')
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    flags = set(get_config(path=ROOT).tst_flags.split()) - force_flags
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
    if str2bool(getattr(nb, 'frontmatter_', {}).get('skip_exec', False)): return dict(ok=True, skipped='skip_exec')
    shell = CaptureShell(fn)
    seed_everything(0)
    with working_directory(fn.parent):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: continue
            direc = getattr(cell, 'directives_', {}) or {}
            if direc.get('eval:', [''])[0].lower() == 'false' or flags & direc.keys(): continue
            shell.cell(cell)
            if shell.exc: return dict(ok=False, idx=i, source=cell.source, tb=shell.prettytb(fname=fn))
    return dict(ok=True)


if __name__ == '__main__':  # the child process: run one notebook, report as JSON on the last line of stdout
    res = run_notebook(Path(sys.argv[1]), set(sys.argv[2].split()))
    print('\n' + json.dumps(res))
    sys.exit(0)

import pytest


def pytest_addoption(parser):
    parser.addoption('--flags', default='', help='space-separated test flags to run (e.g. "slow cuda")')


def pytest_collect_file(file_path, parent):
    if file_path.suffix == '.ipynb' and '.ipynb_checkpoints' not in file_path.parts and not file_path.name.startswith('_'):
        return NotebookFile.from_parent(parent, path=file_path)


class NotebookFile(pytest.File):
    def collect(self): yield NotebookItem.from_parent(self, name=self.path.name)


class NotebookCellError(Exception):
    def __init__(self, fname, idx, source, tb):
        self.fname, self.idx, self.source, self.tb = fname, idx, source, tb


class NotebookItem(pytest.Item):
    "One notebook, executed top to bottom in a fresh Python process."

    def runtest(self):
        fn = Path(self.path).resolve()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(fn), self.config.getoption('flags')],
                              capture_output=True, text=True, cwd=fn.parent)
        try: res = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError(f"{fn.name}: the notebook process died (exit code {proc.returncode}).\n"
                               f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-5000:]}")
        if res.get('skipped'): pytest.skip(res['skipped'])
        if not res['ok']: raise NotebookCellError(fn.name, res['idx'], res['source'], res['tb'])

    def repr_failure(self, excinfo):
        e = excinfo.value
        if isinstance(e, NotebookCellError):
            return f"{e.fname}: cell {e.idx} failed\n--- cell source ---\n{e.source}\n--- traceback ---\n{e.tb}"
        return super().repr_failure(excinfo)

    def reportinfo(self): return self.path, 0, f"notebook {self.path.name}"
