"""Per-step overhead of `Learner.fit` against a hand-written PyTorch loop (same model, data, optimizer).

Both loops iterate the same fastlit `DataLoader` over an in-memory dataset and step the same kind of optimizer; the
Learner runs its default callbacks (`TrainEvalCallback`, `Recorder`) with no progress bar and no validation set, so
the difference is the cost of the loop's events, the recorder and the callbacks. Epochs of the two loops alternate and
the median epoch time of each is reported per step.

Usage: python bench/learner.py [--device cpu|cuda] [--repeats 7] [--quick] [--json PATH]

Targets (Learner time / raw loop time, the MLP cases): <= 1.01 on CUDA, <= 1.03 on the CPU; `--json` writes them with
PASS/MISS in the format of the benchmark contract (`bench/gpu_check.py`). The device defaults to CUDA when present.
"""
import argparse, statistics, time, platform
from functools import partial
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset
from fastlit.data.load import DataLoader
from fastlit.learner import Learner
from fastlit.callback.progress import ProgressCallback
from fastlit.optimizer import Adam, OptimWrapper
from fastlit.data.core import DataLoaders

def make_data(n_in, n_out, n_batches, bs, device):
    x = torch.randn(n_batches*bs, n_in)
    y = torch.randint(0, n_out, (n_batches*bs,))
    dl = DataLoader(TensorDataset(x, y), bs=bs, shuffle=True, device=device)
    return dl


def mlp(n_in, hidden, n_out, depth):
    layers, d = [], n_in
    for _ in range(depth): layers += [nn.Linear(d, hidden), nn.ReLU()]; d = hidden
    return nn.Sequential(*layers, nn.Linear(d, n_out))


def raw_epoch(model, dl, opt, sync):
    model.train()
    for xb, yb in dl:
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    sync()


def run_case(name, n_in, hidden, n_out, depth, bs, n_batches, opt_kind, device, repeats):
    torch.manual_seed(0)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    dl_raw = make_data(n_in, n_out, n_batches, bs, device)
    dl_learn = dl_raw.new()
    m_raw, m_learn = mlp(n_in, hidden, n_out, depth).to(device), mlp(n_in, hidden, n_out, depth).to(device)
    m_learn.load_state_dict(m_raw.state_dict())
    if opt_kind == 'fastlit Adam':
        opt_func = Adam
        opt_raw = Adam(list(m_raw.parameters()), lr=1e-3)
    else:
        opt_func = partial(OptimWrapper, opt=torch.optim.AdamW)
        opt_raw = torch.optim.AdamW(m_raw.parameters(), lr=1e-3)
    # wd_bn_bias=True: decay every parameter, as the raw loop's optimizer does (the default exempts biases and norms)
    learn = Learner(DataLoaders(dl_learn, device=device), m_learn, loss_func=F.cross_entropy, opt_func=opt_func, lr=1e-3,
                    wd_bn_bias=True)
    learn.logger = lambda row: None
    learn.remove_cb(ProgressCallback)   # a default callback: the raw loop has no progress bar either
    # warm up both (allocator, optimizer state, first-call costs)
    raw_epoch(m_raw, dl_raw, opt_raw, sync); learn.fit(1); sync()
    clock = time.process_time if device.type == 'cpu' else time.perf_counter
    def timed(f):
        t0 = clock(); f(); sync(); return clock() - t0
    fit = lambda: learn.fit(1)
    raw = lambda: raw_epoch(m_raw, dl_raw, opt_raw, sync)
    t_raw, t_learn = [], []
    for i in range(repeats):                  # paired rounds, alternating which loop goes first
        if i % 2: t_learn.append(timed(fit)); t_raw.append(timed(raw))
        else:     t_raw.append(timed(raw)); t_learn.append(timed(fit))
    ratios = sorted(l/r for l, r in zip(t_learn, t_raw))
    diffs = sorted((l - r)/n_batches for l, r in zip(t_learn, t_raw))
    q = lambda xs, f: xs[min(int(f*len(xs)), len(xs) - 1)]
    return dict(case=name, opt=opt_kind, bs=bs, raw_us=statistics.median(t_raw)/n_batches*1e6,
                learn_us=statistics.median(t_learn)/n_batches*1e6, overhead_us=statistics.median(diffs)*1e6,
                ratio=statistics.median(ratios), ratio_lo=q(ratios, 0.25), ratio_hi=q(ratios, 0.75))


CASES = [  # name, n_in, hidden, n_out, depth, bs, n_batches
    ('tiny linear (overhead-bound)', 16, 16, 2, 0, 16, 400),
    ('MLP 256-512x2-10, bs 128', 256, 512, 10, 2, 128, 60),
    ('MLP 512-1024x3-10, bs 256', 512, 1024, 10, 3, 256, 10),
]

TARGETS = {'cuda': 1.01, 'cpu': 1.03}   # Learner time / raw loop time; the tiny case is a probe with no target


def contract_rows(results, device, quick):
    "Rows of the benchmark contract (bench/gpu_check.py): one per case and optimizer, the ratio with its target."
    t = TARGETS.get(device.type)
    rows = []
    for r in results:
        probe = r['case'].startswith('tiny')
        note = (f"raw {r['raw_us']:.1f} us/step, Learner {r['learn_us']:.1f} us/step, overhead {r['overhead_us']:.1f} us/step, "
                f"IQR {r['ratio_lo']:.3f}-{r['ratio_hi']:.3f}")
        if probe: note += '; probe of the per-step Python cost, no target'
        if quick: note += '; quick run (few batches): not a measurement'
        target = None if probe or t is None else f"<= {t}"
        ok = None if target is None or quick else bool(r['ratio'] <= t)
        rows.append(dict(name=f"{r['case']}, {r['opt']}: Learner/raw time", value=r['ratio'], unit='x', target=target,
                         **{'pass': ok}, note=note))
    return rows


def write_json(path, bench, device, rows):
    "Write `rows` in the benchmark contract's JSON format."
    import json
    dev = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.machine()} CPU"
    with open(path, 'w') as f: json.dump(dict(bench=bench, device=dev, torch=torch.__version__, rows=rows), f, indent=1)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--repeats', type=int, default=21)
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (0: leave as is)')
    ap.add_argument('--quick', action='store_true', help='fewer batches (smoke test)')
    ap.add_argument('--json', default=None, help='also write the rows here (benchmark contract, see bench/gpu_check.py)')
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads: torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.machine()}, threads={torch.get_num_threads()}, device={device}")
    print(f"{'case':30} {'optimizer':13} {'raw us/step':>12} {'Learner us/step':>16} {'overhead us':>12} {'ratio (IQR)':>22}")
    results = []
    for case in CASES:
        name, n_in, hidden, n_out, depth, bs, nb = case
        if args.quick: nb = max(nb//10, 5)
        for opt_kind in ('fastlit Adam', 'torch AdamW'):
            r = run_case(name, n_in, hidden, n_out, depth, bs, nb, opt_kind, device, args.repeats)
            results.append(r)
            print(f"{r['case']:30} {r['opt']:13} {r['raw_us']:12.1f} {r['learn_us']:16.1f} {r['overhead_us']:12.1f} "
                  f"{r['ratio']:7.3f} ({r['ratio_lo']:.3f}-{r['ratio_hi']:.3f})", flush=True)
    if args.json: write_json(args.json, 'learner', device, contract_rows(results, device, args.quick))
