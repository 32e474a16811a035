"""Per-call cost of `Transform` and `Pipeline` bookkeeping (dispatch, casting, tuple handling), on CPU.

Run: python bench/transform.py
Prints a markdown table of microseconds per call (median of repeats) for a trivial transform on an int,
on a tensor subclass, on an (x, y) tuple, and a three-step Pipeline, next to the bare function call.
"""
import statistics, time, platform
import torch
from fastlit.transform import Transform, Pipeline
from fastlit.torch_core import TensorImage

class Negate(Transform):
    def encodes(self, x:int): return -x
    def encodes(self, x:TensorImage): return -x

class AddOne(Transform):
    def encodes(self, x:int): return x + 1

class Scale(Transform):
    def encodes(self, x:int): return x * 2

def per_call(f, arg, n=20000, repeats=7) -> float:
    "Median microseconds per call of `f(arg)`."
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n): f(arg)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)

if __name__ == '__main__':
    img = TensorImage(torch.zeros(3, 4, 4))
    neg, pipe = Negate(), Pipeline([Negate(), AddOne(), Scale()])
    rows = [('bare function on an int', per_call(lambda x: -x, 3)),
            ('Transform on an int', per_call(neg, 3)),
            ('Transform on a TensorImage (includes the tensor op)', per_call(neg, img)),
            ('bare tensor op (-x on a TensorImage)', per_call(lambda x: -x, img)),
            ('Transform on an (int, int) tuple', per_call(neg, (3, 4))),
            ('3-step Pipeline on an (int, int) tuple', per_call(pipe, (3, 4)))]
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, python {platform.python_version()}\n")
    print("| case | µs per call |\n|---|---|")
    for name, t in rows: print(f"| {name} | {t:.2f} |")
