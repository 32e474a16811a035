"""Throughput and memory of fastlit's data pipeline against plain PyTorch + torchvision, on MNIST_SAMPLE.

The same work on both sides: open each 28x28 PNG as a grayscale image, make it a tensor, scale to [0, 1] and
normalise, label it by its folder, batch 64 with shuffling, over the 12,396 training images. fastlit:
`Datasets` + `dataloaders` with `ToTensor` per item and `IntToFloatTensor` + `Normalize` per batch (main process);
PyTorch: `ImageFolder` + `Compose([Grayscale, ToTensor, Normalize])` per item + `DataLoader`. For each loader and
number of workers it runs `--epochs` passes and reports images per second (median of the passes after the first)
and the resident memory of the main process (and of the workers, when they persist) after each pass, to check that
memory does not grow from pass to pass.

Usage (from the repository root):
    python bench/data_pipeline.py [--data ../shared/data/mnist_sample.tgz] [--workers 0 2] [--epochs 4]
The archive is unpacked once into a temporary folder (`--cache`); nothing is downloaded. Prints a markdown table.
"""
import argparse, os, platform, statistics, sys, tarfile, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import psutil, torch

def unpack(archive:Path, cache:Path) -> Path:
    "The `mnist_sample` folder, unpacked from `archive` into `cache` unless already there."
    dest = cache/'mnist_sample'
    if not (dest/'train').exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as t: t.extractall(cache, filter='data')
    return dest

def _open_bw(fn):
    "Fallback opener while `fastlit.vision.core` can't be imported: a PNG as a byte `TensorImageBW`."
    import numpy as np
    from PIL import Image
    from fastlit.torch_core import TensorImageBW
    return TensorImageBW(torch.from_numpy(np.array(Image.open(fn).convert('L')))[None])

def fastlit_loader(path:Path, nw:int, persistent:bool):
    from fastlit.data.core import Datasets
    from fastlit.data.transforms import (get_image_files, GrandparentSplitter, parent_label, Categorize, ToTensor,
                                         IntToFloatTensor, Normalize, mnist_stats)
    try:
        from fastlit.vision.core import PILImageBW
        opener, item_tfms = PILImageBW.create, [ToTensor()]
    except ImportError: opener, item_tfms = _open_bw, []
    items = get_image_files(path, folders=['train', 'valid'])
    dsets = Datasets(items, [[opener], [parent_label, Categorize()]], splits=GrandparentSplitter()(items))
    dls = dsets.dataloaders(bs=64, num_workers=nw, persistent_workers=persistent, device='cpu', after_item=item_tfms,
                            after_batch=[IntToFloatTensor(), Normalize.from_stats(*mnist_stats)])
    return dls.train

def torch_loader(path:Path, nw:int, persistent:bool):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder
    ds = ImageFolder(path/'train', transform=T.Compose([T.Grayscale(), T.ToTensor(), T.Normalize([0.131], [0.308])]))
    return torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, drop_last=True, num_workers=nw,
                                       persistent_workers=persistent and nw > 0)

def rss_mb(proc, children:bool) -> tuple:
    "Resident memory in MB of `proc` and (summed) of its children."
    kids = sum(c.memory_info().rss for c in proc.children(recursive=True)) if children else 0
    return proc.memory_info().rss/2**20, kids/2**20

def run(make, path, nw:int, epochs:int, persistent:bool) -> dict:
    dl, proc = make(path, nw, persistent), psutil.Process()
    rates, mem = [], []
    for _ in range(epochs):
        t, n = time.perf_counter(), 0
        for xb, yb in dl: n += len(xb)
        rates.append(n/(time.perf_counter() - t))
        mem.append(rss_mb(proc, persistent and nw > 0))
    assert xb.shape[1:] == (1, 28, 28) and xb.dtype == torch.float32, (xb.shape, xb.dtype)
    return dict(rate=statistics.median(rates[1:] or rates), mem=mem, n=n)

def main(data:str, cache:str, workers, epochs:int):
    torch.set_num_threads(1)
    path = unpack(Path(data), Path(cache))
    try: import fastlit.vision.core; opener = 'PILImageBW.create + ToTensor'
    except ImportError: opener = 'a PIL opener in this script (fastlit.vision.core not importable)'
    print(f"MNIST_SAMPLE train, bs=64, {epochs} passes; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}; fastlit opens images with {opener}\n")
    print("| loader | workers | persistent | images/s (median) | main RSS per pass (MB) | workers RSS per pass (MB) |")
    print("|---|---|---|---|---|---|")
    for nw in workers:
        for persistent in ((False, True) if nw else (False,)):
            for name, make in (('fastlit', fastlit_loader), ('torch+torchvision', torch_loader)):
                r = run(make, path, nw, epochs, persistent)
                main_mem = ' '.join(f"{m:.0f}" for m, _ in r['mem'])
                kid_mem = ' '.join(f"{k:.0f}" for _, k in r['mem']) if persistent else '-'
                print(f"| {name} | {nw} | {persistent} | {r['rate']:,.0f} | {main_mem} | {kid_mem} |", flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    p.add_argument('--data', default=str(root.parent/'shared/data/mnist_sample.tgz'), help='the MNIST_SAMPLE archive')
    p.add_argument('--cache', default=str(Path(tempfile.gettempdir())/'fastlit-bench'), help='where to unpack it')
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2], help='numbers of worker processes to try')
    p.add_argument('--epochs', type=int, default=4, help='passes over the training set per setting')
    a = p.parse_args()
    main(a.data, a.cache, a.workers, a.epochs)
