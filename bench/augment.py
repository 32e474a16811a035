"""Time per batch of the default GPU augmentation pipeline, `aug_transforms()`, against fastai's and kornia's.

Cases: a 256x3x224x224 and a 512x3x32x32 batch of random floats in [0, 1], in float32 and float16, run as a training
data loader runs its batch transforms (a `Pipeline` with `split_idx=0`). Rows:

* fastlit `aug_transforms()` (flip, warp, rotate, zoom merged into one resample, brightness and contrast in one pass),
  compiled with `torch.compile` on CUDA (the default), and again with `augment_compile(False)` (eager);
* fastai's `aug_transforms()` (if fastai imports), kornia's `AugmentationSequential` of the same transforms (if kornia
  imports): horizontal flip, perspective 0.2, affine (rotation 10 degrees, zoom 1 to 1.1), colour jitter 0.2;
* two floors: one eager `F.affine_grid` + `F.grid_sample` of the batch, and a plain copy of it.

fastai needs fastcore 2, which the fastlit development environment cannot have (nbdev 2.4.14 pins fastcore 1), so
fastai and kornia live in a separate environment. Run from the fastlit environment and name the other interpreter:
the same run times fastlit here and fastai/kornia there, one after the other, and prints one table:

    python bench/augment.py --device cuda --other-python /work/benchenv/bin/python

`--impls` picks rows (fastlit, fastlit_eager, fastai, kornia, grid_sample, copy); `--bs`/`--sizes` change the batches.
On CUDA the first calls (warm-up, not timed) include compiling. Times are the median over `--repeats` of the mean
over `--iters` back-to-back batches, synchronised at both ends.

`--json PATH` writes the rows in the benchmark contract's format (`bench/gpu_check.py`): each time, and the speed-ups
over fastai with their targets (at least 10x at 224 px and 20x at 32 px, float16 included; fastai fails on float16
batches, so those are measured against its float32 time on the same batch). `--quick` is a smoke test (tiny batches,
one timing). Without `--other-python`, fastai and kornia are imported here if they can be, and their rows are skipped
with a note if not.
"""
import argparse, json, os, platform, statistics, subprocess, sys, time, traceback
import torch
import torch.nn.functional as F

IMPLS = ('fastlit', 'fastlit_eager', 'fastai', 'kornia', 'grid_sample', 'copy')
LOCAL = ('fastlit', 'fastlit_eager', 'grid_sample', 'copy')    # what runs here when another interpreter does the rest

def _sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def time_fn(f, device, warmup:int, iters:int, repeats:int) -> float:
    "Median over `repeats` of the mean milliseconds per call of `f()` over `iters` calls."
    for _ in range(warmup): f()
    _sync(device)
    res = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters): f()
        _sync(device)
        res.append((time.perf_counter() - t0) / iters * 1e3)
    return statistics.median(res)

def _check_cpu_half(x, who:str):
    "torch 2.14.1's float16 `F.grid_sample` on CPU kills the process (segfault) from 4x3x224x224 up: don't try it."
    if x.device.type == 'cpu' and x.dtype == torch.float16 and x.shape[-1] >= 224:
        raise RuntimeError(f"not run: {who} would call float16 F.grid_sample on CPU, which segfaults at this size in torch 2.14.1")

def make_fastlit(x, eager:bool=False):
    from fastlit.vision.augment import aug_transforms, augment_compile
    from fastlit.transform import Pipeline
    from fastlit.torch_core import TensorImage
    augment_compile(not eager)
    torch._dynamo.reset()      # each case compiles for its own shapes, as one training run would
    pipe, xb = Pipeline(aug_transforms(), split_idx=0), TensorImage(x)
    return lambda: pipe(xb)

def make_fastai(x):
    from fastai.vision.augment import aug_transforms
    from fastai.torch_core import TensorImage
    from fasttransform import Pipeline
    pipe, xb = Pipeline(aug_transforms(), split_idx=0), TensorImage(x)
    return lambda: pipe(xb)

def make_kornia(x):
    import kornia.augmentation as K
    _check_cpu_half(x, 'kornia')
    aug = K.AugmentationSequential(K.RandomHorizontalFlip(p=0.5), K.RandomPerspective(distortion_scale=0.2, p=0.75),
                                   K.RandomAffine(degrees=10., scale=(1., 1.1), p=0.75),
                                   K.ColorJitter(brightness=0.2, contrast=0.2, p=0.75)).to(x.device)
    return lambda: aug(x)

def make_grid_sample(x):
    _check_cpu_half(x, 'this row')
    bs = x.shape[0]
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype).repeat(bs, 1, 1)
    theta[:, :, :2] *= 0.95
    def f():
        grid = F.affine_grid(theta, x.shape, align_corners=True)
        return F.grid_sample(x, grid, mode='bilinear', padding_mode='reflection', align_corners=True)
    return f

def make_copy(x): return lambda: x.clone()

MAKERS = dict(fastlit=make_fastlit, fastlit_eager=lambda x: make_fastlit(x, eager=True), fastai=make_fastai,
              kornia=make_kornia, grid_sample=make_grid_sample, copy=make_copy)

def run(impls, device, cases, dtypes, warmup, iters, repeats) -> list:
    "Rows (impl, case, dtype, ms or None, error) for every combination."
    rows = []
    for bs, sz in cases:
        for dt in dtypes:
            dtype = getattr(torch, dt)
            torch.manual_seed(0)
            x = torch.rand(bs, 3, sz, sz, device=device).to(dtype)
            for impl in impls:
                case = f"{bs}x3x{sz}x{sz}"
                try:
                    f = MAKERS[impl](x)
                    ms = time_fn(f, device, warmup, iters, repeats)
                    rows.append(dict(impl=impl, case=case, dtype=dt, ms=ms, error=None))
                except Exception as e:
                    msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]
                    rows.append(dict(impl=impl, case=case, dtype=dt, ms=None, error=msg))
                print(f"  {impl:14s} {case:16s} {dt:8s} " + (f"{rows[-1]['ms']:.3f} ms" if rows[-1]['ms'] is not None else rows[-1]['error']),
                      file=sys.stderr, flush=True)
    return rows

def table(rows, cases, dtypes, impls) -> str:
    head = "| implementation | " + " | ".join(f"{c} {d}" for c in cases for d in dtypes) + " |"
    lines = [head, "|---" * (1 + len(cases) * len(dtypes)) + "|"]
    errs = []
    for impl in impls:
        cells = []
        for c in cases:
            for d in dtypes:
                r = next((r for r in rows if r['impl'] == impl and r['case'] == c and r['dtype'] == d), None)
                if r is None: cells.append('-')
                elif r['ms'] is None:
                    errs.append(f"{impl}, {c} {d}: {r['error']}")
                    cells.append(f"{'not run' if 'not run:' in r['error'] else 'fails'} [{len(errs)}]")
                else: cells.append(f"{r['ms']:.3f}")
        lines.append(f"| {impl} | " + " | ".join(cells) + " |")
    if errs: lines += [""] + [f"[{i+1}] {e}" for i, e in enumerate(errs)]
    return "\n".join(lines)

def env_line(device) -> str:
    dev = torch.cuda.get_device_name(device) if device.type == 'cuda' else (platform.processor() or platform.machine())
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f"torch {torch.__version__}, python {platform.python_version()}, device {device} ({dev}), "
            f"{torch.get_num_threads()} CPU threads, load average {load:.1f}")

def _importable(name:str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None

TARGETS = {224: 10., 32: 20.}   # speed-up over fastai's aug_transforms asked for, by image size (issue 4)

def contract_rows(rows, cases, dtypes, quick:bool, cuda:bool) -> list:
    "Rows of the benchmark contract: every time, then the speed-ups of fastlit over fastai (with targets) and kornia."
    res = []
    for r in rows:
        if r['ms'] is None and r['error'].startswith('not run: not importable'): continue   # said in the speed-up rows
        note = r['error'] if r['ms'] is None else None
        res.append(dict(name=f"{r['impl']} {r['case']} {r['dtype']}", value=r['ms'], unit='ms/batch', target=None,
                        **{'pass': None}, note=note))
    get = lambda impl, c, d: next((r for r in rows if r['impl'] == impl and r['case'] == c and r['dtype'] == d), None)
    for c in cases:
        size = int(c.split('x')[-1])
        for d in dtypes:
            mine = get('fastlit', c, d)
            if mine is None: continue
            for other, t in (('fastai', TARGETS.get(size)), ('kornia', None)):
                o, note = get(other, c, d), None
                if o is not None and o['ms'] is None and other == 'fastai' and d != 'float32' and (get(other, c, 'float32') or {}).get('ms'):
                    note = f"fastai fails on {d} ({o['error'][:80]}): against its float32 time"
                    o = get(other, c, 'float32')
                if o is None: continue
                v = o['ms']/mine['ms'] if o['ms'] is not None and mine['ms'] else None
                if v is None: note = f"{other}: {o['error']}" if o['ms'] is None else f"fastlit: {mine['error']}"
                if quick: note = (note + '; ' if note else '') + 'quick run: not a measurement'
                elif t is not None and not cuda: note = (note + '; ' if note else '') + 'the target is for CUDA'
                ok = None if v is None or t is None or quick or not cuda else bool(v >= t)
                res.append(dict(name=f"speed-up over {other}, {c} {d}", value=v, unit='x',
                                target=None if t is None else f">= {t:g}", **{'pass': ok}, note=note))
    return res

def write_contract(path, device, rows, cases, dtypes, quick, envs):
    "Write the benchmark contract's JSON file."
    dev = torch.cuda.get_device_name(device) if device.type == 'cuda' else (platform.processor() or platform.machine())
    with open(path, 'w') as f:
        json.dump(dict(bench='augment', device=dev, torch=torch.__version__, env=envs,
                       rows=contract_rows(rows, cases, dtypes, quick, device.type == 'cuda')), f, indent=1)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--impls', default=None, help=f'rows, from {",".join(IMPLS)} (default: all; on CPU without fastlit_eager, '
                   'which is then the same code as fastlit)')
    p.add_argument('--bs', default='256,512', help='batch size of each case')
    p.add_argument('--sizes', default='224,32', help='image size of each case')
    p.add_argument('--dtypes', default='float32,float16')
    p.add_argument('--warmup', type=int, default=None, help='untimed calls first (default: 5 on CUDA, 1 on CPU)')
    p.add_argument('--iters', type=int, default=None, help='calls per timing (default: 50 on CUDA, 2 on CPU)')
    p.add_argument('--repeats', type=int, default=None, help='timings, the median is kept (default: 5 on CUDA, 3 on CPU)')
    p.add_argument('--other-python', default=None, help='interpreter that runs fastai and kornia (their own environment)')
    p.add_argument('--json', default=None, help='also write the rows here (benchmark contract, see bench/gpu_check.py)')
    p.add_argument('--quick', action='store_true', help='smoke test: batches 4x3x48x48 and 8x3x32x32, one timing of one call')
    p.add_argument('--rows-json', default=None, help=argparse.SUPPRESS)   # internal: the other interpreter's rows
    a = p.parse_args()
    device = torch.device(a.device)
    cuda = device.type == 'cuda'
    if a.quick:
        if a.bs == p.get_default('bs'): a.bs = '4,8'
        if a.sizes == p.get_default('sizes'): a.sizes = '48,32'
    warmup = a.warmup if a.warmup is not None else (1 if a.quick else 5 if cuda else 1)
    iters = a.iters if a.iters is not None else (1 if a.quick else 50 if cuda else 2)
    repeats = a.repeats if a.repeats is not None else (1 if a.quick else 5 if cuda else 3)
    cases = list(zip([int(v) for v in a.bs.split(',')], [int(v) for v in a.sizes.split(',')]))
    impls = [i for i in a.impls.split(',') if i] if a.impls else [i for i in IMPLS if cuda or i != 'fastlit_eager']
    dtypes = a.dtypes.split(',')
    bad = [i for i in impls if i not in IMPLS]
    if bad: p.error(f"unknown --impls {bad}; choose from {list(IMPLS)}")
    here = [i for i in impls if i in LOCAL] if a.other_python else impls
    if not a.other_python and not a.rows_json:   # anchors asked for but not importable here: skip them with a note
        here = [i for i in here if i not in ('fastai', 'kornia') or _importable(i)]
    there = [i for i in impls if i not in here]
    envs = [env_line(device)]
    rows = run(here, device, cases, dtypes, warmup, iters, repeats)
    case_names = [f"{bs}x3x{sz}x{sz}" for bs, sz in cases]
    if there and a.other_python:
        out = f"/tmp/bench_augment_{os.getpid()}.json"
        cmd = [a.other_python, __file__, '--device', a.device, '--impls', ','.join(there), '--bs', a.bs, '--sizes', a.sizes,
               '--dtypes', a.dtypes, '--warmup', str(warmup), '--iters', str(iters), '--repeats', str(repeats),
               '--rows-json', out]
        try:
            subprocess.run(cmd, check=True)
            with open(out) as f: other = json.load(f)
            os.remove(out)
            rows += other['rows']; envs.append(other['env'] + f" ({a.other_python})")
        except Exception as e:   # the anchor's failure costs its rows only, with the reason in each
            msg = f"{a.other_python} failed: {type(e).__name__}: {e}"[:200]
            rows += [dict(impl=i, case=c, dtype=d, ms=None, error=msg) for i in there for c in case_names for d in dtypes]
    elif there:
        msg = "not run: not importable here and no --other-python given"
        rows += [dict(impl=i, case=c, dtype=d, ms=None, error=msg) for i in there for c in case_names for d in dtypes]
    if a.rows_json:
        with open(a.rows_json, 'w') as f: json.dump(dict(rows=rows, env=envs[0]), f)
        return
    if a.json: write_contract(a.json, device, rows, case_names, dtypes, a.quick, envs)
    print("milliseconds per batch (median of %d timings of %d batches, after %d warm-up calls)\n" % (repeats, iters, warmup))
    for e in envs: print(f"- {e}")
    print()
    print(table(rows, case_names, dtypes, impls))

if __name__ == '__main__': main()
