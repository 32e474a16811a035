"""Collaborative filtering on ml_sample: validation error and time per epoch of fastlit's `collab_learner` against fastai's.

The recipe is the fastai tutorial's, typed the same way in both libraries:

    dls = CollabDataLoaders.from_df(ratings, bs=bs, seed=seed)          # random 80/20 split, the same for a given seed
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))         # or use_nn=True, layers=[100, 50]
    learn.fit_one_cycle(5, 5e-3, wd=0.1)

Rows:
* valid MSE of the dot-product model (`EmbeddingDotBias`) and of `EmbeddingNN`, mean over `--seeds` (each seed picks the
  split and the initial weights), at bs 64; for reference, the MSE of predicting the training mean rating everywhere;
* seconds per epoch (training + validation pass, no progress bar, no logging) at each of `--bs`: on the CPU the
  process's CPU time (`time.process_time`, steady on a shared machine; both libraries run in one thread of one
  process), on CUDA the wall time after a synchronize; the median over
  `--repeats` runs of `fit_one_cycle(--timing-epochs)` divided by the epochs, after one warm-up epoch; and the speed-up
  over fastai. The whole run (both libraries) takes about 30 s of CPU time; `--quick` about 10.

fastai needs fastcore 2, which the fastlit environment cannot have, so it runs in its own interpreter: give
`--other-python /path/to/fastai-venv/bin/python` and the same command runs fastlit here and fastai there, one after the
other, and prints one table (without it the fastai rows are skipped with a note). Both sides use `--threads` torch
threads (default 1).

Usage: python bench/collab.py [--device cpu|cuda] [--quick] [--other-python PY] [--json out.json]
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import torch

DATA = Path(__file__).resolve().parents[2]/'shared/data/ml_sample/ratings.csv'
TARGETS = {'dot': 0.610, 'nn': 0.66}

def _lib(impl:str):
    "`(CollabDataLoaders, collab_learner, set_seed)` of fastlit or fastai."
    if impl == 'fastai':
        from fastai.collab import CollabDataLoaders, collab_learner
        from fastai.torch_core import set_seed
    else:
        from fastlit.collab import CollabDataLoaders, collab_learner
        from fastlit.torch_core import set_seed
    return CollabDataLoaders, collab_learner, set_seed

def _learner(impl, df, bs, seed, kind, device):
    CollabDataLoaders, collab_learner, set_seed = _lib(impl)
    set_seed(seed, True)
    dls = CollabDataLoaders.from_df(df, bs=bs, seed=seed, device=device)
    if kind == 'nn': return collab_learner(dls, use_nn=True, y_range=(0, 5.5), layers=[100, 50])
    return collab_learner(dls, n_factors=50, y_range=(0, 5.5))

def _fit(learn, n_epoch:int, sync, clock=time.perf_counter):
    "Seconds (of `clock`) to run `fit_one_cycle(n_epoch, 5e-3, wd=0.1)` quietly."
    with learn.no_bar(), learn.no_logging():
        t0 = clock()
        learn.fit_one_cycle(n_epoch, 5e-3, wd=0.1)
        sync()
        return clock() - t0

def run(impl:str, data, device:str, seeds, bss, repeats:int, n_epoch:int, t_epoch:int=2) -> list:
    "The rows of one library: quality over `seeds`, time per epoch at each batch size of `bss`."
    import pandas as pd
    df = pd.read_csv(data)
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    clock = time.perf_counter if dev.type == 'cuda' else time.process_time   # CPU time: the machine may be shared
    rows = []
    for kind in ('dot', 'nn'):
        mses = []
        for s in seeds:
            learn = _learner(impl, df, 64, s, kind, device)
            _fit(learn, n_epoch, sync)
            with learn.no_bar(): mses.append(float(learn.validate()[0]))
        rows.append(dict(name=f"{impl} valid MSE, {'EmbeddingDotBias' if kind == 'dot' else 'EmbeddingNN'}", value=statistics.mean(mses),
                         unit='MSE', target=f"<= {TARGETS[kind]} (mean of 3 seeds)" if impl == 'fastlit' else None,
                         **{'pass': (statistics.mean(mses) <= TARGETS[kind]) if impl == 'fastlit' and len(seeds) >= 3 else None},
                         note=f"seeds {list(seeds)}: " + ', '.join(f'{m:.4f}' for m in mses) + f"; {n_epoch} epochs, bs 64"))
    for bs in bss:
        learn = _learner(impl, df, bs, 0, 'dot', device)
        _fit(learn, 1, sync)                                     # warm-up
        per_epoch = statistics.median(_fit(learn, t_epoch, sync, clock) / t_epoch for _ in range(repeats))
        rows.append(dict(name=f"{impl} s/epoch, bs {bs}", value=per_epoch, unit='s', target=None, **{'pass': None},
                         note=f"{'wall' if dev.type == 'cuda' else 'CPU'} time, median of {repeats} runs of fit_one_cycle({t_epoch}), train + valid, {len(learn.dls.train)} + {len(learn.dls.valid)} batches"))
    if impl == 'fastlit':
        from fastlit.collab import CollabDataLoaders
        mses = []
        for s in seeds:
            dls = CollabDataLoaders.from_df(df, seed=s, device='cpu')
            mses.append(float(((dls.valid_ds.ys.to_numpy() - dls.train_ds.ys.to_numpy().mean())**2).mean()))
        rows.append(dict(name='training mean rating, valid MSE', value=statistics.mean(mses), unit='MSE', target=None, **{'pass': None},
                         note='the floor any model must beat'))
    return rows

def speedups(rows:list, bss) -> list:
    "One row per batch size: fastai's time per epoch over fastlit's (target >= 5)."
    by = {r['name']: r['value'] for r in rows}
    res = []
    for bs in bss:
        a, b = by.get(f'fastai s/epoch, bs {bs}'), by.get(f'fastlit s/epoch, bs {bs}')
        v = a / b if a and b else None
        res.append(dict(name=f'speed-up over fastai, bs {bs}', value=v, unit='x', target='>= 5', **{'pass': None if v is None else v >= 5},
                        note=None if v is not None else 'fastai not run (no --other-python)'))
    return res

def table(rows:list) -> str:
    out = ['| row | value | unit | target | pass | note |', '|---|---|---|---|---|---|']
    for r in rows:
        v = '—' if r['value'] is None else f"{r['value']:.4f}" if r['unit'] in ('MSE', 's') else f"{r['value']:.1f}"
        p = '' if r['pass'] is None else 'yes' if r['pass'] else 'NO'
        out.append(f"| {r['name']} | {v} | {r['unit']} | {r['target'] or ''} | {p} | {r['note'] or ''} |")
    return '\n'.join(out)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    p.add_argument('--quick', action='store_true', help='one seed (quality not judged), one timing run (smoke test, under a minute on CPU)')
    p.add_argument('--other-python', default=None, help="the fastai environment's python, for the fastai rows")
    p.add_argument('--json', default=None, help='write the rows here')
    p.add_argument('--impl', default='fastlit', choices=['fastlit', 'fastai'], help='which library this process runs')
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--bs', default='64,1024')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--timing-epochs', type=int, default=2, help='epochs of each timed fit_one_cycle')
    p.add_argument('--threads', type=int, default=1, help='torch intra-op threads (0: leave as is)')
    p.add_argument('--data', default=str(DATA))
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    seeds = [0] if a.quick else [int(s) for s in a.seeds.split(',')]
    bss = [int(b) for b in a.bs.split(',')]
    repeats, n_epoch = (1, 5) if a.quick else (a.repeats, 5)
    rows = run(a.impl, a.data, a.device, seeds, bss, repeats, n_epoch, a.timing_epochs)
    if a.impl == 'fastlit':
        if a.other_python:
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, 'fastai.json')
                cmd = [a.other_python, __file__, '--impl', 'fastai', '--device', a.device, '--json', out, '--seeds', ','.join(map(str, seeds)),
                       '--bs', a.bs, '--repeats', str(repeats), '--timing-epochs', str(a.timing_epochs), '--threads', str(a.threads), '--data', a.data] + (['--quick'] if a.quick else [])
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                rows += json.load(open(out))['rows']
        else: rows.append(dict(name='fastai rows', value=None, unit='', target=None, note='skipped: no --other-python', **{'pass': None}))
        rows += speedups(rows, bss)
    rows = [{k: r[k] for k in ('name', 'value', 'unit', 'target', 'pass', 'note')} for r in rows]
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f"cpu ({platform.machine()}, {torch.get_num_threads()} thread(s))"
    if a.json:
        with open(a.json, 'w') as f: json.dump(dict(bench='collab', device=dev, torch=torch.__version__, rows=rows), f, indent=1)
    if a.impl == 'fastlit':
        print(f"collab on ml_sample, {a.device}: {dev}, torch {torch.__version__}")
        print(table(rows))

if __name__ == '__main__': main()
