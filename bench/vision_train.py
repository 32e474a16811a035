"""Images per second of `fine_tune` against a raw PyTorch loop doing the same work (issue 7).

The fastlit side is what a user writes: `vision_learner(dls, arch)`, `to_channelslast()` (channels-last with float16
mixed precision), `fine_tune(epochs)`. The raw loop does the same work by hand: the same model and initial weights,
the body frozen (batch norm still training) for the first epoch with the head's one-cycle schedule, then everything
unfrozen with discriminative learning rates; AdamW (torch's fused kernel on CUDA, foreach on the CPU) with the same
hyper-parameters and one-cycle learning-rate and momentum schedules; `torch.autocast` float16 with a `GradScaler`;
channels-last model and inputs; a validation pass with loss and accuracy after each epoch.

Both loops read the very same batches, so data loading costs the same in both: real CIFAR-10 images (from
`../shared/data/cifar10_jpg.tar.gz`, no network) are decoded once, resized to `--size` and kept on the device as uint8;
each batch is one index into that tensor, then fastlit's batch pipeline on the device (`IntToFloatTensor`,
`aug_transforms()` for training, `Normalize` with ImageNet statistics). What is left is the Learner's own cost: its
callbacks (mixed precision, channels-last, schedule, recorder, metrics), freezing and optimizer.

Runs alternate (raw, fastlit, fastlit, raw, ...) after one untimed warm-up of each; the figure is images per second
over the whole `fine_tune` (training and validation images), median over `--repeats`.

Usage (from the repository root):
    python bench/vision_train.py --device cuda                  # resnet18 and resnet50, 224 px, bs 256
    python bench/vision_train.py --device cpu --quick           # smoke test: small images, few batches, float32

`--json PATH` also writes one row per architecture in the benchmark contract's format (`bench/gpu_check.py`): the time
ratio fastlit / raw with its target, <= 1.05. `--archive` reads another copy of the CIFAR-10 archive (the GPU check
carries one cut to the first 512 train / 128 test images of each class).
"""
import argparse, io, json, math, platform, statistics, tarfile, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from PIL import Image
from fastlit.vision.all import *
from copy import deepcopy     # after the star import, which brings `copy` (the function) as fastai's does
from fastlit.torch_core import bn_bias_params
from fastlit.optimizer import _per_group       # how `slice` learning rates spread over groups, as `fine_tune` does

ARCHIVE = Path(__file__).resolve().parent.parent.parent/'shared'/'data'/'cifar10_jpg.tar.gz'


def load_cifar(n_train:int, n_valid:int, archive=ARCHIVE):
    "The first `n/10` images of each class of the train and test splits, as uint8 tensors (N,3,32,32) and labels."
    want = {'train': n_train//10, 'test': n_valid//10}
    imgs, labels, counts, classes = {'train': [], 'test': []}, {'train': [], 'test': []}, {}, {}
    with tarfile.open(archive) as tar:
        for m in tar:
            if len(counts) == 20 and all(c >= want[k[0]] for k, c in counts.items()): break   # all 10 classes of both
            parts = m.name.split('/')
            if not m.isfile() or len(parts) != 3 or parts[0] not in want: continue
            split, cls = parts[0], parts[1]
            if counts.get((split, cls), 0) >= want[split]: continue
            counts[(split, cls)] = counts.get((split, cls), 0) + 1
            imgs[split].append(np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert('RGB')))
            labels[split].append(classes.setdefault(cls, len(classes)))
    for s in want:
        if len(labels[s]) < want[s]*10:
            raise ValueError(f"{archive}: {len(labels[s])} {s} images, {want[s]*10} asked for: pass a smaller --n-"
                             f"{'train' if s == 'train' else 'valid'} or the full archive with --archive")
    res = [(torch.from_numpy(np.stack(imgs[s])).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels[s])) for s in ('train', 'test')]
    return res, sorted(classes, key=classes.get)


def resized(x:Tensor, size:int, device) -> Tensor:
    "uint8 images `x` resized to `size` on `device`, in chunks."
    return torch.cat([F.interpolate(c.to(device).float(), size=(size, size), mode='bilinear', align_corners=False)
                      .round_().clamp_(0, 255).to(torch.uint8) for c in x.split(1024)])


class DeviceBatches:
    "Batches of images kept on the device: one index per batch, then the batch pipeline. Both loops iterate it."
    def __init__(self, x, y, bs:int, train:bool, tfms):
        self.x, self.y, self.bs, self.train, self.device = x, y, bs, train, x.device
        self.after_batch = Pipeline(tfms, split_idx=0 if train else 1)
    def __len__(self): return len(self.x)//self.bs if self.train else math.ceil(len(self.x)/self.bs)
    def to(self, device): return self
    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, device=self.device) if self.train else torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i*self.bs:(i+1)*self.bs]
            yield self.after_batch((TensorImage(self.x[idx]), TensorCategory(self.y[idx])))


def make_dls(data, size:int, bs:int, device):
    (xt, yt), (xv, yv) = data
    xt, xv, yt, yv = resized(xt, size, device), resized(xv, size, device), yt.to(device), yv.to(device)
    norm = Normalize.from_stats(*imagenet_stats)
    return DataLoaders(DeviceBatches(xt, yt, bs, True, [IntToFloatTensor(), *aug_transforms(), norm]),
                       DeviceBatches(xv, yv, bs, False, [IntToFloatTensor(), norm]), device=device)


def raw_fine_tune(model, groups, dls, epochs:int, base_lr:float, amp:bool, device):
    "fastlit's `fine_tune(epochs, base_lr)` written out by hand in PyTorch. Returns the last validation accuracy."
    cuda = device.type == 'cuda'
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    model.to(memory_format=torch.channels_last)
    norm_params = {id(p) for p in bn_bias_params(model, False)}   # the Learner's choices: these keep training when frozen
    no_wd = {id(p) for p in bn_bias_params(model, True)}          # and these get no weight decay

    def validate():
        model.eval()
        correct, total = torch.zeros((), device=device), torch.zeros((), device=device)
        with torch.no_grad():
            for xb, yb in dls.valid:
                xb, yb = xb.as_subclass(Tensor).contiguous(memory_format=torch.channels_last), yb.as_subclass(Tensor)
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp): out = model(xb)
                total += F.cross_entropy(out.float(), yb, reduction='sum')
                correct += (out.argmax(1) == yb).sum()
        return (correct/len(dls.valid.x)).item()

    def one_cycle(n_epoch, lrs, pct_start, div, div_final=1e5):
        pgs = []
        for g, lr in zip(groups, lrs):   # like the Learner: no weight decay on batch norm and biases
            pgs.append(dict(params=[p for p in g if id(p) not in no_wd], lr=lr))
            pgs.append(dict(params=[p for p in g if id(p) in no_wd], lr=lr, weight_decay=0.))
        opt = torch.optim.AdamW(pgs, lr=lrs[-1], betas=(0.95, 0.99), eps=1e-5, weight_decay=0.01,
                                **(dict(fused=True) if cuda else dict(foreach=True)))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr for lr in lrs for _ in (0, 1)],
                    total_steps=n_epoch*len(dls.train), pct_start=pct_start, div_factor=div,
                    final_div_factor=div_final/div, base_momentum=0.85, max_momentum=0.95)
        for _ in range(n_epoch):
            model.train()
            for xb, yb in dls.train:
                xb, yb = xb.as_subclass(Tensor).contiguous(memory_format=torch.channels_last), yb.as_subclass(Tensor)
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                    loss = F.cross_entropy(model(xb), yb)
                scaler.scale(loss).backward()
                scaler.step(opt); scaler.update()
                opt.zero_grad(set_to_none=True)
                if sched.last_epoch + 1 < sched.total_steps: sched.step()
            acc = validate()
        return acc

    body, head = [p for g in groups[:-1] for p in g], groups[-1]
    for p in body: p.requires_grad_(id(p) in norm_params)            # freeze, batch norm keeps training
    n = len(groups)
    one_cycle(1, _per_group('lr', slice(base_lr), n), pct_start=0.99, div=25.)
    for p in body: p.requires_grad_(True)                              # unfreeze
    lr = base_lr/2
    return one_cycle(epochs, _per_group('lr', slice(lr/100, lr), n), pct_start=0.3, div=5.)


def bench_arch(arch_name:str, dls, device, epochs:int, repeats:int, amp:bool, base_lr:float=2e-3):
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    torch.manual_seed(0)
    learn = vision_learner(dls, arch_name, n_out=10, pretrained=False, normalize=False,
                           loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    learn.logger = lambda row: None
    learn.to_channelslast(use_amp=amp)
    init = deepcopy(learn.model.state_dict())
    raw_model = deepcopy(learn.model)
    n_images = (epochs + 1)*(len(dls.train)*dls.train.bs + len(dls.valid.x))

    def run_fastlit():
        learn.model.load_state_dict(init); learn.opt = None
        with learn.no_bar(): learn.fine_tune(epochs, base_lr)
        sync()
        return float(learn.recorder.values[-1][-1])
    def run_raw():
        raw_model.load_state_dict(init)
        acc = raw_fine_tune(raw_model, learn.splitter(raw_model), dls, epochs, base_lr, amp, device)
        sync()
        return acc
    run_raw(); run_fastlit()                        # warm-up: cudnn autotuning, allocator, first-call costs
    times, accs = {'raw': [], 'fastlit': []}, {}
    for i in range(repeats):
        order = [('raw', run_raw), ('fastlit', run_fastlit)]
        for name, f in (order if i % 2 == 0 else order[::-1]):
            t0 = time.perf_counter(); accs[name] = f(); times[name].append(time.perf_counter() - t0)
    ratios = sorted(f/r for f, r in zip(times['fastlit'], times['raw']))
    return dict(arch=arch_name, n_images=n_images,
                raw_ips=n_images/statistics.median(times['raw']), fastlit_ips=n_images/statistics.median(times['fastlit']),
                ratio=statistics.median(ratios), ratio_min=ratios[0], ratio_max=ratios[-1], acc_raw=accs['raw'],
                acc_fastlit=accs['fastlit'])


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--archs', default='resnet18,resnet50')
    ap.add_argument('--size', type=int, default=None, help='image size (default 224; 64 with --quick)')
    ap.add_argument('--bs', type=int, default=None, help='batch size (default 256; 32 with --quick)')
    ap.add_argument('--n-train', type=int, default=None, help='training images (default 12800; 320 with --quick)')
    ap.add_argument('--n-valid', type=int, default=None, help='validation images (default 2560; 160 with --quick)')
    ap.add_argument('--epochs', type=int, default=1, help='unfrozen epochs of fine_tune (after 1 frozen epoch)')
    ap.add_argument('--repeats', type=int, default=None, help='timed runs of each loop (default 3; 1 with --quick)')
    ap.add_argument('--fp32', action='store_true', help='no mixed precision (the default on the CPU)')
    ap.add_argument('--quick', action='store_true', help='smoke test: 64 px, 320+160 images, bs 32, resnet18 '
                    '(options given explicitly still apply)')
    ap.add_argument('--archive', default=str(ARCHIVE), help='CIFAR-10 archive ({train,test}/<class>/*.jpg)')
    ap.add_argument('--json', default=None, help='also write the rows here (benchmark contract, see bench/gpu_check.py)')
    a = ap.parse_args()
    device = torch.device(a.device)
    preset = dict(size=64, n_train=320, n_valid=160, bs=32) if a.quick else dict(size=224, n_train=12800, n_valid=2560, bs=256)
    for k, v in preset.items():
        if getattr(a, k) is None: setattr(a, k, v)
    if a.quick and a.archs == ap.get_default('archs'): a.archs = 'resnet18'
    if a.repeats is None: a.repeats = 1 if a.quick else 3
    amp = device.type == 'cuda' and not a.fp32
    torch.backends.cudnn.benchmark = True
    t0 = time.time()
    data, classes = load_cifar(a.n_train, a.n_valid, a.archive)
    dls = make_dls(data, a.size, a.bs, device)
    gpu = torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {gpu}, {a.size} px, bs {a.bs}, {len(data[0][0])} train / {len(data[1][0])} valid "
          f"CIFAR-10 images on the device (loaded in {time.time() - t0:.0f} s), fine_tune({a.epochs}) = 1 frozen + "
          f"{a.epochs} unfrozen epochs, {'float16 mixed precision' if amp else 'float32'}, channels-last, {a.repeats} repeats")
    print(f"{'arch':10} {'raw img/s':>10} {'fastlit img/s':>14} {'time ratio (min-max)':>24} {'valid acc raw/fastlit':>22}")
    rows = []
    for arch in a.archs.split(','):
        r = bench_arch(arch, dls, device, a.epochs, a.repeats, amp)
        print(f"{r['arch']:10} {r['raw_ips']:10.0f} {r['fastlit_ips']:14.0f} {r['ratio']:8.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f})"
              f" {r['acc_raw']:11.3f}/{r['acc_fastlit']:.3f}", flush=True)
        note = (f"raw {r['raw_ips']:.0f} img/s, fastlit {r['fastlit_ips']:.0f} img/s, min-max {r['ratio_min']:.3f}-"
                f"{r['ratio_max']:.3f}, {a.repeats} repeats, bs {a.bs}, {len(data[0][0])}+{len(data[1][0])} images, "
                f"{'fp16 mixed' if amp else 'float32'}, valid acc raw/fastlit {r['acc_raw']:.3f}/{r['acc_fastlit']:.3f}")
        if a.quick: note += '; quick run: not a measurement'
        rows.append(dict(name=f"{arch} {a.size} px fine_tune({a.epochs}): fastlit/raw time", value=r['ratio'], unit='x',
                         target='<= 1.05', **{'pass': None if a.quick else bool(r['ratio'] <= 1.05)}, note=note))
        if a.json:   # after each architecture, so a run stopped later keeps the rows it has
            with open(a.json, 'w') as f: json.dump(dict(bench='vision_train', device=gpu, torch=torch.__version__, rows=rows), f, indent=1)
