"""Per-operation cost of fastlit's typed tensors compared with plain tensors, on the CPU.

Typed tensors keep their type through `__torch_function__`, which runs Python code on every operation. This measures
that overhead on small tensors (so the overhead, not the arithmetic, dominates): for each operation, the median over
many repeats of the time per call, for a plain `Tensor`, a `TensorImage`, a `TensorImage` carrying metadata, and a
"floor" subclass whose `__torch_function__` only runs the op (what any subclass pays PyTorch before doing anything).

Usage (from the repository root): python bench/typed_tensor.py [--repeats 41] [--number 2000] [--clock cpu|wall]
Prints a markdown table; the target is an overhead under 5 µs per operation.
"""
import argparse, os, platform, statistics, sys, time, timeit
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import torch
import torch.nn.functional as F
from fastlit.torch_core import TensorImage

class _Floor(torch.Tensor):
    "The cheapest possible subclass hook: run the op, keep nothing. Its overhead is PyTorch's own dispatch cost."
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch._C._disabled_torch_function_impl(func, types, args, kwargs or {})

def ops(x, y):
    "Name -> zero-argument callable, for tensors `x` and `y` of the same kind."
    return {
        'x + 1':            lambda: x + 1,
        'x * y':            lambda: x * y,
        'x[0]':             lambda: x[0],
        'x.float() (no-op)': lambda: x.float(),
        'x.half()':         lambda: x.half(),
        'F.relu(x)':        lambda: F.relu(x),
        'torch.cat([x, x])': lambda: torch.cat([x, x]),
        'x.view(-1)':       lambda: x.view(-1),
        'x.sum()':          lambda: x.sum(),
        'x.shape':          lambda: x.shape,
    }

def per_call_us(f, repeats:int, number:int, timer=time.process_time) -> float:
    "Median time per call in microseconds over `repeats` runs of `number` calls."
    t = timeit.Timer(f, timer=timer)
    return statistics.median(t.timeit(number) / number * 1e6 for _ in range(repeats))

def main(repeats:int=41, number:int=2000, clock:str='cpu'):
    timer = time.process_time if clock == 'cpu' else time.perf_counter
    torch.set_num_threads(1)
    base = torch.rand(2, 3, 4, 4)
    kinds = {'plain': (base, base.clone()),
             'floor': (base.as_subclass(_Floor), base.clone().as_subclass(_Floor)),
             'typed': (TensorImage(base), TensorImage(base.clone())),
             'typed+meta': (TensorImage(base, img_size=(4, 4)), TensorImage(base.clone(), img_size=(4, 4)))}
    table = {k: ops(*v) for k, v in kinds.items()}
    for name, f in table['typed'].items():  # sanity: the types are kept
        if name != 'x.shape': assert isinstance(f(), TensorImage), name
    for fs in table.values():                # warm up
        for f in fs.values(): f()
    rows = []
    for name in table['plain']:
        # interleave the kinds round by round, so drifts in machine speed hit them alike; overhead = median of
        # the per-round differences (robust when other processes share the CPU)
        res = {k: [] for k in table}
        for _ in range(repeats):
            for k in table: res[k].append(per_call_us(table[k][name], 1, number, timer))
        p = statistics.median(res['plain'])
        t, m = (statistics.median(res[k]) for k in ('typed', 'typed+meta'))
        df, dt, dm = (statistics.median(a - b for a, b in zip(res[k], res['plain'])) for k in ('floor', 'typed', 'typed+meta'))
        rows.append((name, p, df, t, dt, m, dm))
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, 1 thread, tensor shape "
          f"{tuple(base.shape)}, median of {repeats} rounds x {number} calls, {clock} clock, load average {os.getloadavg()[0]:.1f}\n")
    print("| op | plain (µs) | floor overhead (µs) | TensorImage (µs) | overhead (µs) | with metadata (µs) | overhead (µs) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, p, df, t, dt, m, dm in rows:
        print(f"| `{name}` | {p:.2f} | {df:+.2f} | {t:.2f} | {dt:+.2f} | {m:.2f} | {dm:+.2f} |")
    worst = max(max(dt, dm) for _, _, _, _, dt, _, dm in rows)
    print(f"\nworst overhead: {worst:.2f} µs per op (target < 5 µs)")
    return rows

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=41)
    ap.add_argument('--number', type=int, default=2000)
    ap.add_argument('--clock', choices=['cpu', 'wall'], default='cpu',
                    help="cpu: this process's CPU time, so other processes sharing the machine do not inflate the "
                         "figures (default); wall: elapsed time")
    a = ap.parse_args()
    main(a.repeats, a.number, a.clock)
