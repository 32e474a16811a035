"""Distributed training (issue 15): epoch wall time with 1 and N processes, and fastlit's DDP loop against a raw DDP loop.

The script launches itself once with `torchrun --nproc_per_node=N --standalone` (N = 1 on a machine with one GPU: then it
runs in this process, without a launcher). On the same model and data, each launch measures two loops:
- a raw loop: the model (in `DistributedDataParallel` when N > 1), the batches of `DistributedDL` (the same sharding
  fastlit uses), `loss.backward(); opt.step(); opt.zero_grad()`, torch's SGD;
- `Learner.fit(1)` (under `learn.to_distributed()` when N > 1: the `DistributedTrainer` callback, i.e. DDP, the sharded
  loader and the logged loss averaged over the processes each batch), the same torch SGD through `OptimWrapper`, no
  progress bar, no validation set.
First rank 0 times both loops alone, on the whole dataset, before the process group exists (the other processes wait
in the rendezvous, idle): the 1-process figures. Then all N processes join the group and time the same loops on their
shares. Epochs of the two loops alternate (paired rounds); rank 0's wall time per epoch, after a barrier, is reported
(median). One launch for both cases: on a small, busy machine most of a quick run is the processes' start and imports.

- CPU (`--device cpu`): N = 2 Gloo processes with one thread each, a small CNN on 32x32 images (compute-bound: about
  57k parameters for ~70 ms of compute per batch of 16 on one core). On a 2-core machine shared with other jobs the
  1 -> 2 process speed-up is bounded by the free cores; it is reported, not targeted.
- CUDA (`--device cuda`): N = every visible GPU (NCCL), torchvision's resnet50 at 224 px, bs 64 per GPU, mixed
  precision; the scaling efficiency (time per epoch with 1 GPU / (N x time with N GPUs), same dataset) has the target
  >= 0.90 at 8 GPUs. With fewer than 2 GPUs the row says it was not measured.

Usage: python bench/distributed.py [--device cpu|cuda] [--quick] [--repeats N] [--batches N] [--json PATH] [--other-python PATH]
(defaults: 24 batches per epoch in one process, 7 paired epochs on the CPU and 5 on GPUs, which keeps a 1-GPU run
within the GPU check's 45 s budget; the CPU figures in RESULTS.md used `--repeats 11`)
fastai anchor: none. fastai's distributed training needs CUDA and NCCL (its loader broadcasts with `.cuda()`), so it
cannot run on the CPU; on GPUs its numbers would be those of the same DDP engine. `--other-python` is accepted for the
benchmark contract and only noted.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_OVERHEAD, TARGET_SCALING = 1.03, 0.90
LAUNCH_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def cnn():
    "A small convolutional classifier of 32x32 images: much compute for few parameters (little to all-reduce)."
    from torch import nn
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def time_loops(ds, make_model, bs, device, args, distributed:bool, wait=lambda: None) -> dict:
    "Time a raw loop and `Learner.fit(1)` on `ds`, epochs alternating; with `distributed`, both in DDP on this rank's share."
    import torch, torch.nn.functional as F
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from fastlit.data.load import DataLoader
    from fastlit.data.core import DataLoaders
    from fastlit.learner import Learner
    from fastlit.optimizer import OptimWrapper
    from fastlit.callback.progress import ProgressCallback
    from fastlit.distributed import DistributedDL
    cuda = device.type == 'cuda'
    torch.manual_seed(0)
    m_raw, m_learn = make_model().to(device), make_model().to(device)
    m_learn.load_state_dict(m_raw.state_dict())
    opt_raw = torch.optim.SGD(m_raw.parameters(), lr=1e-3, momentum=0.9)
    dl_raw = DataLoader(ds, bs=bs, shuffle=True)
    if distributed:
        ids = [device.index] if cuda else None
        net, batches = DistributedDataParallel(m_raw, device_ids=ids), DistributedDL(dl_raw)
    else: net, batches = m_raw, dl_raw
    scaler = torch.amp.GradScaler('cuda') if cuda else None
    def raw_epoch():
        net.train()
        for xb, yb in batches:
            with torch.autocast('cuda', enabled=cuda):
                loss = F.cross_entropy(net(xb), yb)
            if scaler is None:
                loss.backward(); opt_raw.step()
            else:
                scaler.scale(loss).backward(); scaler.step(opt_raw); scaler.update()
            opt_raw.zero_grad()

    learn = Learner(DataLoaders(DataLoader(ds, bs=bs, shuffle=True)), m_learn, loss_func=F.cross_entropy, lr=1e-3,
                    opt_func=partial(OptimWrapper, opt=partial(torch.optim.SGD, momentum=0.9)), wd_bn_bias=True)
    learn.logger = lambda row: None
    learn.remove_cb(ProgressCallback)
    if cuda:
        import fastlit.callback.fp16
        learn.to_fp16()
    if distributed:
        import fastlit.distributed       # `Learner.to_distributed`, the documented optional integration
        learn.to_distributed(sync_bn=False)
    fit = lambda: learn.fit(1)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    barrier = dist.barrier if distributed else (lambda: None)

    def timed(f, out:dict):
        "Wall time (after a barrier) and CPU time of this process for `f()`, appended to `out`."
        barrier(); sync()
        t0, c0 = time.perf_counter(), time.process_time()
        f(); sync()
        out['wall'].append(time.perf_counter() - t0); out['cpu'].append(time.process_time() - c0)
    wait()
    raw, lrn = dict(wall=[], cpu=[]), dict(wall=[], cpu=[])
    timed(raw_epoch, dict(wall=[], cpu=[])); timed(fit, dict(wall=[], cpu=[]))   # warm-up: allocator, DDP buckets...
    for i in range(args.repeats):
        if i % 2: timed(fit, lrn); timed(raw_epoch, raw)
        else: timed(raw_epoch, raw); timed(fit, lrn)
    return dict(raw=raw['wall'], learn=lrn['wall'], raw_cpu=raw['cpu'], learn_cpu=lrn['cpu'], batches_per_process=len(batches))


def worker(args):
    "One process of the launch: rank 0 times the loops alone, then every process in the group; rank 0 writes `args.out`."
    sys.path.insert(0, str(ROOT))
    import torch
    from fastlit.torch_core import num_distrib, rank_distrib, _env_int
    from fastlit.distributed import setup_distrib
    ws, rank, cuda = max(num_distrib(), 1), rank_distrib(), args.device == 'cuda'
    if not cuda: torch.set_num_threads(1)
    device = torch.device('cpu')
    if cuda:
        device = torch.device('cuda', _env_int('LOCAL_RANK', 0))
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    if cuda:
        import torchvision
        make_model, size, bs, n_items = (lambda: torchvision.models.resnet50(num_classes=10)), 224, 64, 64*args.batches
    else: make_model, size, bs, n_items = cnn, 32, 16, 16*args.batches
    x = torch.randn(n_items, 3, size, size, device=device)
    y = torch.randint(0, 10, (n_items,), device=device)
    ds = list(zip(x, y))
    res = dict(world_size=ws, bs=bs, items=n_items, torch=torch.__version__,
               device=torch.cuda.get_device_name(device) if cuda else f"{platform.machine()} CPU, {os.cpu_count()} cores")
    # 1 process: rank 0 alone, before the group exists. The other processes first do their slow first imports (torch's
    # optimizers load `torch._dynamo`), say so with a file, then wait idle in `init_process_group`; rank 0 starts timing
    # once they are all ready.
    ready = lambda r: Path(f"{args.out}.ready{r}")
    if rank == 0:
        def wait(deadline=time.time() + 900):
            while not all(ready(r).exists() for r in range(1, ws)):
                if time.time() > deadline: raise TimeoutError("bench/distributed.py: the other processes never got ready")
                time.sleep(0.05)
        res['single'] = time_loops(ds, make_model, bs, device, args, distributed=False, wait=wait)
    else:
        import fastlit.data.core, fastlit.learner, fastlit.optimizer, fastlit.callback.progress
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        ready(rank).touch()
    if ws > 1:
        setup_distrib(gpu=device.index if cuda else None, cpu=not cuda)
        res['multi'] = time_loops(ds, make_model, bs, device, args, distributed=True)
    if rank == 0: Path(args.out).write_text(json.dumps(res))


def launch(nproc, args, out) -> dict:
    "Run this script's worker with `torchrun --nproc_per_node=nproc` (one process: here, without a launcher); its figures."
    if nproc == 1:
        env = {k: os.environ.pop(k) for k in LAUNCH_VARS if k in os.environ}
        try: worker(argparse.Namespace(**{**vars(args), 'out': str(out)}))
        finally: os.environ.update(env)
        return json.loads(Path(out).read_text())
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    if args.device == 'cpu': env['CUDA_VISIBLE_DEVICES'] = ''
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}', '--standalone', __file__, '--worker',
           '--device', args.device, '--batches', str(args.batches), '--repeats', str(args.repeats), '--out', str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0: raise RuntimeError(f"the {nproc}-process run failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return json.loads(Path(out).read_text())


def n_gpus() -> int:
    "Number of visible GPUs, without importing torch here (the workers do)."
    out = subprocess.run([sys.executable, '-c', 'import torch; print(torch.cuda.device_count())'], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def rows_of(res:dict, n:int, args) -> list:
    "The benchmark's rows from one launch's figures."
    med, rows = statistics.median, []
    quick = '; quick run (few batches): not a measurement' if args.quick else ''
    figs = {1: res['single'], **({n: res['multi']} if n > 1 else {})}
    for p, r in figs.items():
        items = f"{res['items']} items" + ('' if p == 1 else f" split in {p}")
        rows.append(dict(name=f"epoch wall time, {p} process(es), fastlit", value=med(r['learn']), unit='s', target=None,
                         **{'pass': None}, note=f"{items}, bs {res['bs']} per process, {r['batches_per_process']} "
                         f"batches per process; raw loop {med(r['raw']):.3f} s{quick}"))
    if n > 1:
        speedup = med(figs[1]['learn'])/med(figs[n]['learn'])
        if args.device == 'cuda':
            eff = speedup/n
            rows.append(dict(name=f"scaling efficiency 1 -> {n} GPUs, resnet50 224 px (fastlit)", value=eff, unit='x',
                             target=f">= {TARGET_SCALING} at 8 GPUs", **{'pass': None if args.quick or n < 8 else eff >= TARGET_SCALING},
                             note=f"speed-up {speedup:.2f}x on {n} GPUs{quick}"))
        else:
            rows.append(dict(name=f"speed-up 1 -> {n} Gloo processes (fastlit)", value=speedup, unit='x', target=None,
                             **{'pass': None}, note=f"ideal {n}x; bounded by the free cores of a shared machine{quick}"))
    else:
        rows.append(dict(name="scaling efficiency 1 -> N GPUs, resnet50 224 px", value=None, unit='x',
                         target=f">= {TARGET_SCALING} at 8 GPUs", **{'pass': None},
                         note=f"not measured: {n} GPU visible, needs 2 or more"))
    q = lambda xs, f: xs[min(int(f*len(xs)), len(xs) - 1)]
    for p, kind in ((n, ''), (n, '_cpu'), (1, '')) if n > 1 else ((1, ''), (1, '_cpu')):
        r = figs[p]
        ratios = sorted(l/w for l, w in zip(r['learn' + kind], r['raw' + kind]))
        ratio = statistics.median(ratios)
        what = (f"DDP, {p} processes" if p > 1 else "1 process, no DDP") + (", CPU time of rank 0" if kind else "")
        main_row = p == n and not kind            # the figure: wall time under DDP
        rows.append(dict(name=f"fastlit / raw loop, {what}", value=ratio, unit='x',
                         target=f"<= {TARGET_OVERHEAD}" if main_row else None,
                         **{'pass': None if args.quick or n < 2 or not main_row else bool(ratio <= TARGET_OVERHEAD)},
                         note=f"median of {len(ratios)} paired epochs, IQR {q(ratios, .25):.3f}-{q(ratios, .75):.3f}; raw "
                              f"{med(r['raw' + kind]):.3f} s, fastlit {med(r['learn' + kind]):.3f} s per epoch"
                              + ("" if main_row else "; for reading the main row") + quick))
    anchor = ("fastai anchor not run: fastai's distributed training needs CUDA/NCCL" if args.device == 'cpu' else
              "fastai anchor not run: it uses the same DDP engine")
    if args.other_python: anchor += f" (--other-python {args.other_python} given)"
    rows.append(dict(name='fastai anchor', value=None, unit='', target=None, **{'pass': None}, note=anchor))
    return rows


def main(args):
    n = n_gpus() if args.device == 'cuda' else 2
    print(f"device={args.device}, processes 1 and {n} (one launch)", flush=True)
    tmp = Path(tempfile.mkdtemp())
    res = launch(n, args, tmp/'res.json')
    print(f"torch {res['torch']}, {res['device']}")
    rows = rows_of(res, n, args)
    print('| row | value | unit | target | pass | note |\n|---|---:|---|---|---|---|')
    for r in rows:
        v = '' if r['value'] is None else f"{r['value']:.3f}"
        print(f"| {r['name']} | {v} | {r['unit']} | {r['target'] or ''} | {'' if r['pass'] is None else r['pass']} | {r['note']} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(bench='distributed', device=res['device'], torch=res['torch'], rows=rows), f, indent=1)


def default_device() -> str:
    "cuda when torch sees a GPU, else cpu; without an NVIDIA driver, cpu at once (torch is not imported here)."
    import shutil
    if not (Path('/proc/driver/nvidia').exists() or shutil.which('nvidia-smi')): return 'cpu'
    return 'cuda' if n_gpus() > 0 else 'cpu'


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default=None, choices=['cpu', 'cuda'], help='default: cuda if available')
    ap.add_argument('--quick', action='store_true', help='tiny sizes (smoke test, well under a minute on the CPU)')
    ap.add_argument('--repeats', type=int, default=None, help='paired epochs per case (default 7 on the CPU, 5 on GPUs; quick 1)')
    ap.add_argument('--batches', type=int, default=None, help='batches per epoch in one process')
    ap.add_argument('--json', default=None, help='write the rows here (benchmark contract)')
    ap.add_argument('--other-python', default=None, help="the fastai venv's python (noted only, see above)")
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--out', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device is None: args.device = default_device()
    if args.repeats is None: args.repeats = 1 if args.quick else (7 if args.device == 'cpu' else 5)
    if args.batches is None: args.batches = 4 if args.quick and args.device == 'cpu' else (8 if args.quick else 24)
    if not args.worker: main(args)
    else:                                          # a torchrun child: leave as soon as the figures are written
        worker(args)
        from fastlit.distributed import teardown_distrib
        teardown_distrib()
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(0)       # skips the interpreter's slow shutdown of torch (seconds on a busy machine); nothing is left to save
