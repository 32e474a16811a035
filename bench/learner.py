"""Per-step overhead of `Learner.fit` against a hand-written PyTorch loop (same model, data, optimizer).

Both loops iterate the same fastlit `DataLoader` over an in-memory dataset and step the same kind of optimizer; the
Learner runs its default callbacks (`TrainEvalCallback`, `Recorder`) with no progress bar and no validation set, so
the difference is the cost of the loop's events, the recorder and the callbacks. Epochs of the two loops alternate and
the median epoch time of each is reported per step.

Usage: python bench/learner.py [--device cpu|cuda] [--repeats 7] [--quick]
"""
import argparse, time, platform
from functools import partial
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset
from fastlit.data.load import DataLoader
from fastlit.learner import Learner
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
    learn = Learner(DataLoaders(dl_learn, device=device), m_learn, loss_func=F.cross_entropy, opt_func=opt_func, lr=1e-3)
    learn.logger = lambda row: None
    # warm up both (allocator, optimizer state, first-call costs)
    raw_epoch(m_raw, dl_raw, opt_raw, sync); learn.fit(1); sync()
    clock = time.process_time if device.type == 'cpu' else time.perf_counter
    t_raw, t_learn = [], []
    for _ in range(repeats):
        t0 = clock(); raw_epoch(m_raw, dl_raw, opt_raw, sync); t_raw.append(clock() - t0)
        t0 = clock(); learn.fit(1); sync(); t_learn.append(clock() - t0)
    raw, lrn = min(t_raw)/n_batches, min(t_learn)/n_batches
    return dict(case=name, opt=opt_kind, bs=bs, raw_us=raw*1e6, learn_us=lrn*1e6, overhead_us=(lrn - raw)*1e6, ratio=lrn/raw)


CASES = [  # name, n_in, hidden, n_out, depth, bs, n_batches
    ('tiny linear (overhead-bound)', 16, 16, 2, 0, 16, 400),
    ('MLP 256-512x2-10', 256, 512, 10, 2, 128, 200),
    ('MLP 512-1024x3-10', 512, 1024, 10, 3, 256, 60),
]

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--repeats', type=int, default=15)
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (0: leave as is)')
    ap.add_argument('--quick', action='store_true', help='fewer batches (smoke test)')
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads: torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.machine()}, threads={torch.get_num_threads()}, device={device}")
    print(f"{'case':32} {'optimizer':22} {'raw us/step':>12} {'Learner us/step':>16} {'overhead us':>12} {'ratio':>7}")
    for case in CASES:
        name, n_in, hidden, n_out, depth, bs, nb = case
        if args.quick: nb = max(nb//10, 5)
        for opt_kind in ('fastlit Adam', 'torch AdamW'):
            r = run_case(name, n_in, hidden, n_out, depth, bs, nb, opt_kind, device, args.repeats)
            print(f"{r['case']:32} {r['opt']:22} {r['raw_us']:12.1f} {r['learn_us']:16.1f} {r['overhead_us']:12.1f} {r['ratio']:7.3f}")
