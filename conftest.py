"""Runs each notebook in `nbs/` as one pytest item, the way `nbdev_test` does.

Cells flagged with a `tst_flags` flag (`#| slow`, `#| cuda`) are skipped unless forced with
`pytest --flags "slow cuda"`; cells marked `#| eval: false` never run; each notebook runs
with its own folder as the working directory. A failure names the notebook, the cell and
its source, then shows the traceback.
"""
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parent


def pytest_addoption(parser):
    parser.addoption('--flags', default='', help='space-separated test flags to run (e.g. "slow cuda")')


def _skip_flags():
    from nbdev.config import get_config
    return set(get_config(path=ROOT).tst_flags.split())


def pytest_collect_file(file_path, parent):
    if file_path.suffix == '.ipynb' and '.ipynb_checkpoints' not in file_path.parts and not file_path.name.startswith('_'):
        return NotebookFile.from_parent(parent, path=file_path)


class NotebookFile(pytest.File):
    def collect(self): yield NotebookItem.from_parent(self, name=self.path.name)


class NotebookCellError(Exception):
    def __init__(self, fname, idx, source, tb):
        self.fname, self.idx, self.source, self.tb = fname, idx, source, tb


class NotebookItem(pytest.Item):
    "One notebook, executed top to bottom in a fresh IPython shell."

    def runtest(self):
        from execnb.shell import CaptureShell
        from nbdev.process import NBProcessor
        from nbdev.frontmatter import FrontmatterProc
        from fastcore.basics import str2bool
        from fastcore.xtras import working_directory
        os.environ['IN_TEST'] = '1'
        os.environ.setdefault('MPLBACKEND', 'Agg')
        if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
        flags = _skip_flags() - set(self.config.getoption('flags').split())
        fn = Path(self.path)
        nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
        if str2bool(getattr(nb, 'frontmatter_', {}).get('skip_exec', False)): pytest.skip('skip_exec in frontmatter')
        shell = CaptureShell(fn)
        with working_directory(fn.parent):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: continue
                direc = getattr(cell, 'directives_', {}) or {}
                if direc.get('eval:', [''])[0].lower() == 'false' or flags & direc.keys(): continue
                shell.cell(cell)
                if shell.exc:
                    raise NotebookCellError(fn.name, i, cell.source, shell.prettytb(fname=fn))

    def repr_failure(self, excinfo):
        e = excinfo.value
        if isinstance(e, NotebookCellError):
            return f"{e.fname}: cell {e.idx} failed\n--- cell source ---\n{e.source}\n--- traceback ---\n{e.tb}"
        return super().repr_failure(excinfo)

    def reportinfo(self): return self.path, 0, f"notebook {self.path.name}"
