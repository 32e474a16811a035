"""Tabular (issue 12): fastlit's `TabularPandas` + `tabular_learner` against fastai 2.8 on adult_sample, side by side.

Both libraries get the same 80/20 split (fastai's `RandomSplitter(valid_pct=0.2, seed=42)`: torch's generator, so the
same rows in both venvs; `--split numpy` draws them with `numpy.random.RandomState(42)` instead), the same 14 features
(8 categorical, 6 continuous), the procs `[Categorify, FillMissing, Normalize]`, the default `tabular_learner`
(layers [200, 100]) and the same batch size. Measured:
- data setup: building `TabularPandas` with the three procs (median of 3);
- all times are CPU seconds of the process (`time.process_time`) with one torch thread (`--threads 1`, both libraries):
  the machine these figures come from is shared and loaded, so wall time measures the neighbours, and more threads
  than free cores makes both libraries several times slower (spinning OpenMP threads);
- time per epoch at bs 64 and bs 1024. Both libraries are timed on the same fixed number of training and validation
  batches inside `fit` (a callback records the time between batches and cancels the pass), after a few warm-up batches,
  and the epoch time is extrapolated from the per-batch times and the number of batches of an epoch (fastlit's
  extrapolated epoch has come out 10-35% above its measured `fit(1)` on the loaded machine; cause not pinned down). A full epoch (`fit(1)`, no progress bar or logging, after the
  timed batches) is measured in both libraries as well, and the speed-up (target >= 10) is the ratio of those. The side by
  side uses fastai's model in both (`tabular_config(n_freq=0)`); fastlit's default adds numeric embeddings, timed apart;
- the same model in a bare PyTorch loop (batches drawn beforehand, `F.cross_entropy`, torch's fused Adam, no Learner):
  the model's own work, and so the ceiling of the speed-up any library running this model eagerly can show;
- accuracy after `fit_one_cycle(5)` with defaults, mean of 3 seeds (fastlit; fastai only with `--fastai-accuracy`,
  about 20 CPU seconds per seed with one thread);
- LightGBM (defaults) on the very same processed features (`to.xs`, codes as pandas categories) and split.

Usage: python bench/tabular.py [--device cpu|cuda] [--quick] [--other-python /tmp/fastai-venv/bin/python]
                               [--seeds 3] [--fastai-accuracy] [--json PATH]
"""
import argparse, json, os, subprocess, sys, time, statistics, textwrap
from pathlib import Path
import numpy as np, pandas as pd, torch

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'/'adult_sample'/'adult.csv'
CAT = ['workclass', 'education', 'marital-status', 'occupation', 'relationship', 'race', 'sex', 'native-country']
CONT = ['age', 'fnlwgt', 'education-num', 'capital-gain', 'capital-loss', 'hours-per-week']

# The timing harness, shared by both libraries (fastai runs it in its own venv): `CB` records the time of each
# training/validation batch and cancels the pass after `n` of them.
HARNESS = textwrap.dedent('''
import time, json, sys, numpy as np, pandas as pd, torch
clock = time.process_time   # CPU time of this process: on a shared, loaded machine wall time measures the neighbours
def loader_pass(dl):
    "CPU seconds to draw every batch of `dl` once (no model)."
    t = clock()
    for b in dl: pass
    return clock() - t
def split(n, kind='fastai', pct=0.2):
    "fastai's `RandomSplitter(valid_pct=0.2, seed=42)` (torch's generator, the same in both venvs), or numpy's RandomState(42)."
    if kind == 'fastai':
        torch.manual_seed(42)
        idx = torch.randperm(n).numpy()
    else: idx = np.random.RandomState(42).permutation(n)
    cut = int(pct*n)
    return sorted(idx[cut:].tolist()), sorted(idx[:cut].tolist())
def make_cb(Callback, CancelTrainException, CancelValidException, n_warm, n):
    class TimeBatches(Callback):
        order = 100
        def before_fit(self): self.tt, self.tv = [], []
        def after_batch(self):
            ts = self.tt if self.learn.training else self.tv
            ts.append(clock())
            if len(ts) >= n_warm + n + 1: raise (CancelTrainException if self.learn.training else CancelValidException)()
    return TimeBatches
def per_batch(ts, n_warm):
    ts = ts[n_warm:] if len(ts) > n_warm + 2 else ts
    return (ts[-1] - ts[0]) / (len(ts) - 1)
''')

FASTAI = HARNESS + textwrap.dedent('''
from fastai.tabular.all import *
args = json.loads(sys.argv[1])
if args['threads']: torch.set_num_threads(args['threads'])
df = pd.read_csv(args['data'], skipinitialspace=True)
if args['n_rows']: df = df.iloc[:args['n_rows']]
tr, va = split(len(df), args['split'])
res = {}
ts = []
for _ in range(3):
    t = clock()
    to = TabularPandas(df, [Categorify, FillMissing, Normalize], args['cat'], args['cont'], y_names='salary', splits=(tr, va))
    ts.append(clock() - t)
res['setup_s'] = sorted(ts)[1]
TB = make_cb(Callback, CancelTrainException, CancelValidException, args['n_warm'], args['n_batches'])
for bs in args['bss']:
    set_seed(0)
    dls = to.dataloaders(bs=bs, num_workers=0, device=torch.device(args['device']))
    learn = tabular_learner(dls, metrics=accuracy)
    cb = TB()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)
    with learn.no_bar(), learn.no_logging():
        t = clock(); learn.fit(1, 1e-3); full = clock() - t
    res[f'bs{bs}'] = dict(train_batch_s=per_batch(cb.tt, args['n_warm']), valid_batch_s=per_batch(cb.tv, args['n_warm']),
                          n_train=len(dls.train), n_valid=len(dls.valid), loader_s=loader_pass(dls.train), full_epoch_cpu_s=full)
accs = []
for seed in args['acc_seeds']:
    set_seed(seed)
    dls = to.dataloaders(bs=64, num_workers=0, device=torch.device(args['device']))
    learn = tabular_learner(dls, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(args['epochs'])
        accs.append(float(learn.validate()[1]))
res['accs'] = accs
print(json.dumps(res))
''')


def row(name, value, unit, target=None, ok=None, note=None):
    return dict(name=name, value=None if value is None else float(value), unit=unit, target=target, **{'pass': ok}, note=note)


def run_fastlit(a, df, tr, va, device):
    ns = {}
    exec(HARNESS, ns)
    from fastlit.tabular.all import (TabularPandas, Categorify, FillMissing, Normalize, tabular_learner, tabular_config, accuracy,
                                     set_seed, Callback, CancelTrainException, CancelValidException)
    res, ts = {}, []
    for _ in range(3):
        t = time.process_time()
        to = TabularPandas(df, [Categorify, FillMissing, Normalize], CAT, CONT, y_names='salary', splits=(tr, va))
        ts.append(time.process_time() - t)
    res['setup_s'] = sorted(ts)[1]
    TB = ns['make_cb'](Callback, CancelTrainException, CancelValidException, a.n_warm, a.n_batches)
    for bs in a.bss:
        set_seed(0)
        dls = to.dataloaders(bs=bs, device=device)
        learn = tabular_learner(dls, metrics=accuracy, config=tabular_config(n_freq=0))   # fastai's model, for the side by side
        cb = TB()
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)
        r = dict(train_batch_s=ns['per_batch'](cb.tt, a.n_warm), valid_batch_s=ns['per_batch'](cb.tv, a.n_warm),
                 n_train=len(dls.train), n_valid=len(dls.valid), loader_s=ns['loader_pass'](dls.train))
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)                                   # warm
            if device.type == 'cuda': torch.cuda.synchronize()
            t, c = time.perf_counter(), time.process_time(); learn.fit(1, 1e-3)
            if device.type == 'cuda': torch.cuda.synchronize()
            r['full_epoch_s'], r['full_epoch_cpu_s'] = time.perf_counter() - t, time.process_time() - c
        r['raw_train_batch_s'], r['raw_valid_batch_s'] = raw_step(tabular_learner(dls, config=tabular_config(n_freq=0)).model,
                                                                  dls, a.n_warm, a.n_batches, device)
        learn = tabular_learner(dls, metrics=accuracy)                                   # the default model (numeric embeddings)
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)
            c = time.process_time(); learn.fit(1, 1e-3)
            r['default_epoch_cpu_s'] = time.process_time() - c
        res[f'bs{bs}'] = r
    accs = []
    for seed in range(a.seeds):
        set_seed(seed)
        dls = to.dataloaders(bs=64, device=device)
        learn = tabular_learner(dls, metrics=accuracy)
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(a.epochs)
            accs.append(float(learn.validate()[1]))
    res['accs'], res['to'] = accs, to
    return res


def raw_step(model, dls, n_warm, n, device):
    "CPU (or CUDA wall) seconds per training and per validation batch of a bare PyTorch loop on `model`: the model's own work."
    import torch.nn.functional as F
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    clock = time.perf_counter if device.type == 'cuda' else time.process_time
    tb = [b for _, b in zip(range(n_warm + n + 1), dls.train)]          # batches drawn beforehand: no loader in the timing
    vb = [b for _, b in zip(range(n_warm + n + 1), dls.valid)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)     # torch's fastest Adam
    model.train()
    ts = []
    for xc, xn, y in tb:
        F.cross_entropy(model(xc, xn), y).backward(); opt.step(); opt.zero_grad(); sync(); ts.append(clock())
    model.eval()
    vs = []
    with torch.no_grad():
        for xc, xn, y in vb: F.cross_entropy(model(xc, xn), y); sync(); vs.append(clock())
    per = lambda t: (t[-1] - t[min(n_warm, len(t) - 2)]) / (len(t) - 1 - min(n_warm, len(t) - 2))
    return per(ts), per(vs)


def run_lightgbm(to, threads):
    "LightGBM with defaults on `to.xs` (the same processed features and split), or None when lightgbm/sklearn are missing."
    try:
        import lightgbm as lgb
        from sklearn.metrics import roc_auc_score
    except ImportError: return None
    def xs(t): return t.xs.astype({n: 'category' for n in t.cat_names})
    trn, val = to.train, to.valid
    t = time.process_time()
    m = lgb.LGBMClassifier(verbose=-1, random_state=0, n_jobs=threads or -1).fit(xs(trn), trn.ys.values.ravel())
    fit_s = time.process_time() - t
    p = m.predict_proba(xs(val))[:, 1]
    y = val.ys.values.ravel()
    return dict(acc=float(((p > 0.5) == y).mean()), auc=float(roc_auc_score(y, p)), fit_s=fit_s)


def epoch_s(r): return r['n_train']*r['train_batch_s'] + r['n_valid']*r['valid_batch_s']


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    p.add_argument('--quick', action='store_true', help='4,000 rows, 1 seed, 1 epoch, 20 timed batches (CI dry run)')
    p.add_argument('--other-python', default=None, help="the fastai venv's python (anchor rows)")
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--split', default='fastai', choices=['fastai', 'numpy'],
                   help="validation rows: fastai's RandomSplitter(valid_pct=0.2, seed=42), or numpy RandomState(42)")
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--n-batches', dest='n_batches', type=int, default=60, help='timed batches per pass')
    p.add_argument('--fastai-accuracy', action='store_true', help='also train fastai for the accuracy row (slow)')
    p.add_argument('--threads', type=int, default=1, help='torch threads on the CPU, for both libraries (0: torch default); '
                   'on a shared, loaded 2-core machine more threads than free cores make both far slower')
    p.add_argument('--json', default=None)
    a = p.parse_args()
    a.n_warm, a.bss = 5, [64, 1024]
    if a.quick: a.seeds, a.epochs, a.n_batches, a.n_warm = 1, 1, 3, 2
    n_rows = 4000 if a.quick else None
    if a.device == 'cpu' and a.threads: torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    df = pd.read_csv(DATA, skipinitialspace=True)
    if n_rows: df = df.iloc[:n_rows]
    ns = {}; exec(HARNESS, ns)
    tr, va = ns['split'](len(df), a.split)
    if a.quick: a.bss = [64, 256]

    fl = run_fastlit(a, df, tr, va, device)
    gbm = run_lightgbm(fl['to'], a.threads if a.device == 'cpu' else 0)
    fa, fa_note = None, None
    if a.other_python and Path(a.other_python).exists():
        args = dict(data=str(DATA), n_rows=n_rows, cat=CAT, cont=CONT, bss=a.bss, n_warm=a.n_warm, n_batches=a.n_batches,
                    device=a.device, epochs=a.epochs, split=a.split, threads=a.threads if a.device == 'cpu' else 0, acc_seeds=list(range(a.seeds)) if a.fastai_accuracy else [])
        env = dict(os.environ, **({'OMP_NUM_THREADS': str(a.threads)} if a.device == 'cpu' and a.threads else {}))
        out = subprocess.run([a.other_python, '-c', FASTAI, json.dumps(args)], capture_output=True, text=True, env=env)
        if out.returncode: fa_note = f"fastai run failed: {out.stderr[-500:]}"
        else: fa = json.loads(out.stdout.strip().splitlines()[-1])
    else: fa_note = 'no --other-python: fastai rows skipped'

    rows = [row('fastlit data setup (TabularPandas, 3 procs)', fl['setup_s'], 's')]
    if fa: rows += [row('fastai data setup (TabularPandas, 3 procs)', fa['setup_s'], 's'),
                    row('setup speed-up (fastai / fastlit)', fa['setup_s']/fl['setup_s'], 'x', '>= 1', fa['setup_s'] >= fl['setup_s'])]
    for bs in a.bss:
        r = fl[f'bs{bs}']
        raw_epoch = r['n_train']*r['raw_train_batch_s'] + r['n_valid']*r['raw_valid_batch_s']
        rows += [row(f'fastlit epoch bs {bs} (from {a.n_batches} timed batches)', epoch_s(r), 's',
                     note=f"train {r['train_batch_s']*1e3:.2f} ms/batch x {r['n_train']}, valid {r['valid_batch_s']*1e3:.2f} ms/batch x {r['n_valid']}"),
                 row(f'fastlit full epoch bs {bs} (fit(1), measured CPU time)', r['full_epoch_cpu_s'], 's', note=f"wall {r['full_epoch_s']:.2f} s"),
                 row(f'fastlit loader pass bs {bs} (training batches, no model)', r['loader_s'], 's'),
                 row(f'bare PyTorch loop bs {bs}, same model (model step alone)', raw_epoch, 's',
                     note=f"train {r['raw_train_batch_s']*1e3:.2f} ms/batch (forward, backward, fused Adam), valid {r['raw_valid_batch_s']*1e3:.2f} ms/batch; "
                          f"fastlit's epoch is {epoch_s(r)/raw_epoch:.2f}x this"),
                 row(f'fastlit full epoch bs {bs}, default model (with PeriodicEmbedding)', r['default_epoch_cpu_s'], 's')]
        if fa:
            f = fa[f'bs{bs}']
            fe, le = f['full_epoch_cpu_s'], r['full_epoch_cpu_s']
            rows += [row(f'fastai epoch bs {bs} (from {a.n_batches} timed batches)', epoch_s(f), 's',
                         note=f"train {f['train_batch_s']*1e3:.2f} ms/batch x {f['n_train']}, valid {f['valid_batch_s']*1e3:.2f} ms/batch x {f['n_valid']}"),
                     row(f'fastai full epoch bs {bs} (fit(1), measured CPU time)', fe, 's'),
                     row(f'epoch speed-up bs {bs} (fastai / fastlit, measured fit(1))', fe/le, 'x', '>= 10', fe/le >= 10,
                         note=f"from the timed batches: {epoch_s(f)/epoch_s(r):.2f}x"),
                     row(f'ceiling bs {bs}: fastai epoch / bare PyTorch epoch', fe/raw_epoch, 'x',
                         note='the largest speed-up any library running this model in eager PyTorch could show'),
                     row(f'fastai loader pass bs {bs} (training batches, no model)', f['loader_s'], 's'),
                     row(f'loader speed-up bs {bs} (fastai / fastlit)', f['loader_s']/max(r['loader_s'], 1e-9), 'x')]
    acc = statistics.mean(fl['accs'])
    rows.append(row(f"fastlit accuracy, fit_one_cycle({a.epochs}), mean of {len(fl['accs'])} seeds", acc, 'accuracy',
                    None if a.quick else '>= 0.855', None if a.quick else acc >= 0.855,
                    note='seeds: ' + ', '.join(f'{x:.4f}' for x in fl['accs'])))
    if fa and fa['accs']:
        rows.append(row(f"fastai accuracy, fit_one_cycle({a.epochs}), mean of {len(fa['accs'])} seeds", statistics.mean(fa['accs']),
                        'accuracy', note='seeds: ' + ', '.join(f'{x:.4f}' for x in fa['accs'])))
    if gbm: rows += [row('LightGBM (defaults) on the same processed features: accuracy', gbm['acc'], 'accuracy'),
                     row('LightGBM: ROC AUC', gbm['auc'], 'auc'), row('LightGBM: fit time (CPU)', gbm['fit_s'], 's')]
    else: rows.append(row('LightGBM', None, '', note='skipped: lightgbm (or scikit-learn) is not installed (pip install lightgbm scikit-learn)'))
    if fa_note: rows.append(row('fastai anchor', None, '', note=fa_note))

    name = torch.cuda.get_device_name() if device.type == 'cuda' else f'cpu ({os.cpu_count()} cores)'
    thr = f', {torch.get_num_threads()} torch thread(s)' if device.type == 'cpu' else ''
    print(f"\n### Tabular, adult_sample ({len(df)} rows, 80/20 split), device: {name}{thr}, torch {torch.__version__}\n")
    print('| measure | value | unit | target | pass | note |\n|---|---|---|---|---|---|')
    for r in rows:
        v = '' if r['value'] is None else f"{r['value']:.4g}"
        print(f"| {r['name']} | {v} | {r['unit']} | {r['target'] or ''} | {'' if r['pass'] is None else ('PASS' if r['pass'] else 'MISS')} | {r['note'] or ''} |")
    if a.json:
        with open(a.json, 'w') as f: json.dump(dict(bench='tabular', device=name, torch=torch.__version__, rows=rows), f, indent=1)


if __name__ == '__main__': main()
