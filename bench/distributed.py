"""Distributed training (issue 15): epoch wall time with 1 and N processes, and fastlit's DDP loop against a raw DDP loop.

The script launches itself with `torchrun --nproc_per_node=N --standalone` (and runs the P = 1 case itself) and each launch measures, on
the same model and data:
- a raw DDP loop: `DistributedDataParallel(model)`, the batches of `DistributedDL` (the same sharding fastlit uses),
  `loss.backward(); opt.step(); opt.zero_grad()`, torch's SGD;
- `Learner.fit(1)` under `learn.to_distributed()` (the `DistributedTrainer` callback: DDP, sharded loader, the logged
  loss averaged over the processes each batch), the same torch SGD through `OptimWrapper`, no progress bar, no
  validation set.
Epochs of the two loops alternate (paired rounds); rank 0's wall time per epoch, after a barrier, is reported (median).
With P = 1 the worker runs in this process, without a launcher or process group: both loops are plain loops.

- CPU (`--device cpu`): N = 2 Gloo processes with one thread each, a small CNN on 32x32 images (compute-bound: about
  57k parameters for ~70 ms of compute per batch of 16 on one core). On a 2-core machine shared with other jobs the
  1 -> 2 process speed-up is bounded by the free cores; it is reported, not targeted.
- CUDA (`--device cuda`): N = every visible GPU (NCCL), torchvision's resnet50 at 224 px, bs 64 per GPU, mixed
  precision; the scaling efficiency (time per epoch with 1 GPU / (N x time with N GPUs), same dataset) has the target
  >= 0.90 at 8 GPUs. With fewer than 2 GPUs the row says it was not measured.

Usage: python bench/distributed.py [--device cpu|cuda] [--quick] [--repeats 5] [--json PATH] [--other-python PATH]
fastai anchor: none. fastai's distributed training needs CUDA and NCCL (its loader broadcasts with `.cuda()`), so it
cannot run on the CPU; on GPUs its numbers would be those of the same DDP engine. `--other-python` is accepted for the
benchmark contract and only noted.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from functools import partial
from pathlib import Path
import torch
from torch import nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
TARGET_OVERHEAD, TARGET_SCALING = 1.03, 0.90


def cnn():
    "A small convolutional classifier of 32x32 images: much compute for few parameters (little to all-reduce)."
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def worker(args):
    "One process of a torchrun launch: time the raw and the fastlit loop; rank 0 writes the figures to `args.out`."
    sys.path.insert(0, str(ROOT))
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from fastlit.torch_core import num_distrib, rank_distrib
    from fastlit.data.load import DataLoader
    from fastlit.data.core import DataLoaders
    from fastlit.learner import Learner
    from fastlit.optimizer import OptimWrapper
    from fastlit.distributed import setup_distrib, DistributedDL
    ws, cuda = max(num_distrib(), 1), args.device == 'cuda'
    device = setup_distrib(cpu=not cuda)
    if not cuda: torch.set_num_threads(1)
    torch.manual_seed(0)
    if cuda:
        import torchvision
        make_model, size, bs, n_items = (lambda: torchvision.models.resnet50(num_classes=10)), 224, 64, 64*args.batches
    else: make_model, size, bs, n_items = cnn, 32, 16, 16*args.batches
    x = torch.randn(n_items, 3, size, size, device=device)
    y = torch.randint(0, 10, (n_items,), device=device)
    ds = list(zip(x, y))
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    barrier = dist.barrier if ws > 1 else (lambda: None)

    m_raw, m_learn = make_model().to(device), make_model().to(device)
    m_learn.load_state_dict(m_raw.state_dict())
    opt_raw = torch.optim.SGD(m_raw.parameters(), lr=1e-3, momentum=0.9)
    dl_raw = DataLoader(ds, bs=bs, shuffle=True)
    if ws > 1:
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
    if cuda:
        import fastlit.callback.fp16
        learn.to_fp16()
    if ws > 1: learn.to_distributed(sync_bn=False)
    fit = lambda: learn.fit(1)

    def timed(f):
        barrier(); sync()
        t0 = time.perf_counter(); f(); sync()
        return time.perf_counter() - t0
    timed(raw_epoch); timed(fit)                          # warm-up: allocator, DDP buckets, first calls
    t_raw, t_learn = [], []
    for i in range(args.repeats):
        if i % 2: t_learn.append(timed(fit)); t_raw.append(timed(raw_epoch))
        else: t_raw.append(timed(raw_epoch)); t_learn.append(timed(fit))
    if rank_distrib() == 0:
        n_batches = len(batches)
        Path(args.out).write_text(json.dumps(dict(world_size=ws, raw=t_raw, learn=t_learn, batches_per_process=n_batches,
                                                  bs=bs, items=n_items)))


def launch(nproc, args, out):
    "Run this script's worker with `torchrun --nproc_per_node=nproc` (one process: here, without a launcher); its figures."
    if nproc == 1:
        worker(argparse.Namespace(**{**vars(args), 'out': str(out)}))
        return json.loads(Path(out).read_text())
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    if args.device == 'cpu': env['CUDA_VISIBLE_DEVICES'] = ''
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}', '--standalone', __file__, '--worker',
           '--device', args.device, '--batches', str(args.batches), '--repeats', str(args.repeats), '--out', str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0: raise RuntimeError(f"the {nproc}-process run failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return json.loads(Path(out).read_text())


def main(args):
    n = torch.cuda.device_count() if args.device == 'cuda' else 2
    dev_name = torch.cuda.get_device_name(0) if args.device == 'cuda' else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    tmp = Path(tempfile.mkdtemp())
    print(f"torch {torch.__version__}, {dev_name}, device={args.device}, processes 1 and {n}")
    res = {p: launch(p, args, tmp/f'{p}.json') for p in sorted({1, n})}
    med = lambda xs: statistics.median(xs)
    rows = []
    quick = '; quick run (few batches): not a measurement' if args.quick else ''
    for p, r in res.items():
        rows.append(dict(name=f"epoch wall time, {p} process(es), fastlit", value=med(r['learn']), unit='s', target=None,
                         **{'pass': None}, note=f"{r['items']} items, bs {r['bs']} per process, {r['batches_per_process']} "
                         f"batches per process; raw DDP loop {med(r['raw']):.3f} s{quick}"))
    r1, rn = res[1], res[n]
    if n > 1:
        speedup = med(r1['learn'])/med(rn['learn'])
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
    ratios = sorted(l/r for l, r in zip(rn['learn'], rn['raw']))
    q = lambda xs, f: xs[min(int(f*len(xs)), len(xs) - 1)]
    ratio = statistics.median(ratios)
    rows.append(dict(name=f"fastlit DDP / raw DDP loop, {n} processes", value=ratio, unit='x', target=f"<= {TARGET_OVERHEAD}",
                     **{'pass': None if args.quick or n < 2 else bool(ratio <= TARGET_OVERHEAD)},
                     note=f"median of {len(ratios)} paired epochs, IQR {q(ratios, .25):.3f}-{q(ratios, .75):.3f}; raw "
                          f"{med(rn['raw']):.3f} s, fastlit {med(rn['learn']):.3f} s per epoch{quick}"))
    anchor = ("fastai anchor not run: fastai's distributed training needs CUDA/NCCL" if args.device == 'cpu' else
              "fastai anchor not run: it uses the same DDP engine")
    if args.other_python: anchor += f" (--other-python {args.other_python} given)"
    rows.append(dict(name='fastai anchor', value=None, unit='', target=None, **{'pass': None}, note=anchor))
    print('| row | value | unit | target | pass | note |\n|---|---:|---|---|---|---|')
    for r in rows:
        v = '' if r['value'] is None else f"{r['value']:.3f}"
        print(f"| {r['name']} | {v} | {r['unit']} | {r['target'] or ''} | {'' if r['pass'] is None else r['pass']} | {r['note']} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(bench='distributed', device=dev_name, torch=torch.__version__, rows=rows), f, indent=1)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--quick', action='store_true', help='tiny sizes (smoke test, under a minute on the CPU)')
    ap.add_argument('--repeats', type=int, default=None, help='paired epochs per launch (default 7, quick 1)')
    ap.add_argument('--batches', type=int, default=None, help='batches per epoch in one process')
    ap.add_argument('--json', default=None, help='write the rows here (benchmark contract)')
    ap.add_argument('--other-python', default=None, help="the fastai venv's python (noted only, see above)")
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--out', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeats is None: args.repeats = 1 if args.quick else 7
    if args.batches is None: args.batches = (4 if args.quick else 24) if args.device == 'cpu' else (8 if args.quick else 40)
    worker(args) if args.worker else main(args)
