"""Accuracy after one epoch from scratch on MNIST_SAMPLE (issue 7's CPU figure), and the time it took.

Run: python bench/mnist_sample.py [--arch resnet18] [--epochs 1] [--bs 64]
Unpacks ../shared/data/mnist_sample.tgz (a local archive: no network) into a scratch cache, builds
`ImageDataLoaders.from_folder`, trains a `vision_learner` from scratch with `fit_one_cycle`, prints the
validation accuracy and the wall time.
"""
import argparse, os, tempfile, time
from pathlib import Path

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-2)
    ap.add_argument('--workers', type=int, default=0)
    a = ap.parse_args()
    os.environ.setdefault('FASTLIT_HOME', str(Path(tempfile.gettempdir())/'fastlit-bench-home'))
    from fastlit.vision.all import *
    import torch
    archive = Path(__file__).resolve().parent.parent.parent/'shared'/'data'/'mnist_sample.tgz'
    path = untar_data(str(archive))
    set_seed(42)
    dls = ImageDataLoaders.from_folder(path, bs=a.bs, num_workers=a.workers)
    learn = vision_learner(dls, globals()[a.arch], pretrained=False, metrics=accuracy)
    t0 = time.time()
    with learn.no_bar(): learn.fit_one_cycle(a.epochs, a.lr)
    elapsed = time.time() - t0
    loss, acc = learn.validate()
    print(f"{a.arch}, {a.epochs} epoch(s) from scratch on MNIST_SAMPLE ({len(dls.train_ds)} train / {len(dls.valid_ds)} valid), "
          f"bs {a.bs}, torch {torch.__version__}, {torch.get_num_threads()} threads: accuracy {float(acc):.4f}, "
          f"training time {elapsed:.0f} s")
