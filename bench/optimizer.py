"""Time one optimizer `step()` of fastlit's generic `Optimizer` against `torch.optim` (issue 6).

For each model (torchvision resnet50, a 12-layer d_model=1024 transformer encoder, and a set of many
small tensors that exposes per-step Python overhead) and each optimizer (SGD with momentum, Adam with
decoupled weight decay), every implementation steps the same parameters with the same fixed gradients:

- fastlit: `SGD(mom=0.9)` / `Adam(wd=0.01)` as built (torch's fused kernel for these two recipes);
- fastlit foreach: the same with `opt.fused = False` (the generic `torch._foreach_*` path every
  built-in stat and stepper has);
- fastlit loop: the same with `opt.foreach = False` (one Python call per parameter, as in fastai);
- torch foreach: `torch.optim.SGD/AdamW(foreach=True)`;
- torch fused: `fused=True` (where torch supports it on the device).

Implementations are interleaved round by round, in reversed order every other round, so that machine
noise and order effects hit them alike. The table reports the median milliseconds per step, and the
ratios of fastlit and fastlit foreach to torch foreach as the median over rounds of the ratio within
each round (robust to load that drifts on a shared machine). Target: ratio <= 1.15.

    python bench/optimizer.py                       # CPU
    python bench/optimizer.py --device cuda         # GPU
    python bench/optimizer.py --models resnet50 --reps 5
    python bench/optimizer.py --layers 6            # a shallower transformer, to keep CPU runs short
    python bench/optimizer.py --quick --json r.json # smoke test; rows in the benchmark contract's format

With `--json` the rows are the ratios with their targets: fastlit / torch fused <= 1.15 (the GPU target of issue 17)
and fastlit foreach / torch foreach <= 1.15 (issue 6), each the median over rounds of the ratio within a round.
The device defaults to CUDA when present.
"""
import argparse, gc, json, platform, statistics, sys, time
from pathlib import Path
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fastlit.optimizer import SGD, Adam


def make_params(name, device, layers=12):
    "The parameters of model `name` on `device`, each with a fixed random gradient."
    if name == 'resnet50':
        from torchvision.models import resnet50
        ps = list(resnet50(weights=None).parameters())
    elif name == 'transformer':
        layer = nn.TransformerEncoderLayer(d_model=1024, nhead=16, dim_feedforward=4096, batch_first=True)
        ps = list(nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False).parameters())
    elif name == 'many-small':
        ps = [nn.Parameter(torch.randn(256)) for _ in range(300)]
    else: raise ValueError(f"Unknown model {name!r}: use resnet50, transformer or many-small.")
    ps = [nn.Parameter(p.detach().to(device)) for p in ps]
    for p in ps: p.grad = torch.randn_like(p) * 1e-3
    return ps


def make_opts(kind, ps, device, slow):
    "The implementations to compare for optimizer `kind` ('sgd' or 'adam') on `ps`."
    opts = {}
    if kind == 'sgd':
        opts['fastlit'] = SGD(ps, lr=1e-3, mom=0.9)
        opts['fastlit foreach'] = SGD(ps, lr=1e-3, mom=0.9)
        if slow: opts['fastlit loop'] = SGD(ps, lr=1e-3, mom=0.9)
        opts['torch foreach'] = torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True)
        fused = lambda: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True)
    else:
        opts['fastlit'] = Adam(ps, lr=1e-3, wd=0.01)
        opts['fastlit foreach'] = Adam(ps, lr=1e-3, wd=0.01)
        if slow: opts['fastlit loop'] = Adam(ps, lr=1e-3, wd=0.01)
        opts['torch foreach'] = torch.optim.AdamW(ps, lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, foreach=True)
        fused = lambda: torch.optim.AdamW(ps, lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, fused=True)
    opts['fastlit foreach'].fused = False
    if 'fastlit loop' in opts: opts['fastlit loop'].foreach = False
    try: opts['torch fused'] = fused()
    except (RuntimeError, ValueError) as e: print(f"  torch fused unavailable on {device}: {e}", file=sys.stderr)
    return opts


def sync(device):
    if device.startswith('cuda'): torch.cuda.synchronize()


def time_opts(opts, device, warmup, reps):
    "Seconds per `step()` of each optimizer in each round, interleaving them round by round."
    for _ in range(warmup):
        for o in opts.values(): o.step()
    sync(device)
    times = {k: [] for k in opts}
    for r in range(reps):
        for k,o in (list(opts.items()) if r % 2 == 0 else list(opts.items())[::-1]):
            sync(device); t = time.perf_counter()
            o.step()
            sync(device); times[k].append(time.perf_counter() - t)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--models', default='resnet50,transformer,many-small')
    ap.add_argument('--opts', default='sgd,adam')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--reps', type=int, default=7)
    ap.add_argument('--layers', type=int, default=12, help="layers of the transformer encoder")
    ap.add_argument('--threads', type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument('--no-loop', action='store_true', help="skip the fastlit Python-loop column")
    ap.add_argument('--quick', action='store_true', help="smoke test: many-small and a 1-layer transformer, 3 steps")
    ap.add_argument('--json', default=None, help="also write the ratios here (benchmark contract, see bench/gpu_check.py)")
    args = ap.parse_args()
    if args.quick: args.models, args.layers, args.reps, args.warmup = 'many-small,transformer', 1, 3, 1
    dev = args.device
    if args.threads: torch.set_num_threads(args.threads)
    cols = ['fastlit', 'fastlit foreach', 'fastlit loop', 'torch foreach', 'torch fused']
    desc = torch.cuda.get_device_name() if dev.startswith('cuda') else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"device: {desc}; torch {torch.__version__}; median of {args.reps} steps after {args.warmup} warm-up steps\n")
    print('| model | params | optimizer | ' + ' | '.join(f'{c} (ms)' for c in cols)
          + ' | fastlit / torch foreach | fastlit foreach / torch foreach |')
    print('|' + '---|'*(len(cols) + 5))
    rows = []
    for name in args.models.split(','):
        ps = make_params(name, dev, args.layers)
        n = sum(p.numel() for p in ps)
        for kind in args.opts.split(','):
            opts = make_opts(kind, ps, dev, slow=not args.no_loop)
            times = time_opts(opts, dev, args.warmup, args.reps)
            t = {k: statistics.median(v) for k,v in times.items()}
            ratio = lambda k: statistics.median(a/b for a,b in zip(times[k], times['torch foreach']))
            cells = [f"{t[c]*1e3:.2f}" if c in t else '-' for c in cols]
            r1,r2 = ratio('fastlit'),ratio('fastlit foreach')
            label = f"transformer ({args.layers} layers)" if name == 'transformer' else name
            oname = 'SGD mom=0.9' if kind == 'sgd' else 'Adam (AdamW)'
            print(f"| {label} | {n/1e6:.1f}M ({len(ps)} tensors) | {oname} | "
                  + ' | '.join(cells) + f" | {r1:.2f}x | {r2:.2f}x |", flush=True)
            rows += contract_rows(f"{label}, {oname}", times, t, args.quick)
            del opts; gc.collect()
        del ps; gc.collect()
        if dev.startswith('cuda'): torch.cuda.empty_cache()
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(bench='optimizer', device=desc, torch=torch.__version__, rows=rows), f, indent=1)


def contract_rows(what, times, t, quick):
    "Rows of the benchmark contract: the two target ratios of case `what`, with PASS/MISS (none in a quick run)."
    rows = []
    for a, b in (('fastlit', 'torch fused'), ('fastlit foreach', 'torch foreach')):
        note = f"{a} {t[a]*1e3:.3f} ms, {b} " + (f"{t[b]*1e3:.3f} ms" if b in t else "unavailable on this device")
        if quick: note += '; quick run (3 steps): not a measurement'
        v = statistics.median(x/y for x, y in zip(times[a], times[b])) if b in times else None
        rows.append(dict(name=f"{what}: {a} / {b}", value=v, unit='x', target='<= 1.15',
                         **{'pass': None if quick or v is None else bool(v <= 1.15)}, note=note))
    return rows


if __name__ == '__main__': main()
