#!/usr/bin/env bash
# Stage everything the one-command GPU check (bench/gpu_check.py) needs on the device machine, which has no network
# and no ../shared beside the checkout, into the git-ignored folder .whl/ (run here, from the repository root):
#
#   .whl/fastlit/  wheels for fastlit's own needs that the device image lacks (fastcore 1.x, fastprogress, and nbdev,
#                  execnb and IPython to run the notebooks' CUDA cells); installed into a --target folder there;
#   .whl/anchor/   fastai, kornia and their non-torch needs (fastcore 2.x): installed into a separate --target folder
#                  that only the anchor subprocesses see (PYTHONPATH), never fastlit's process;
#   .whl/data/     the sample data the CUDA cells and the benchmarks read from ../shared/data, with CIFAR-10 cut to the
#                  first 512 train / 128 test images of each class (what gpu_check's vision_train run reads).
#
# Wheels are for the device: CPython 3.12, x86_64 manylinux. torch, torchvision, numpy, pandas, scikit-learn,
# matplotlib, pillow, pytest, hypothesis, requests, rich, PyYAML... are already on the device image (see
# /work/.library/device/KINDS.md) and are not downloaded. Versions are those of /work/shared/tools/fastai-requirements.txt.
#
# Usage: bash bench/fetch_anchor_wheels.sh [--with-spacy] [--no-lightgbm] [--no-data]
#   --with-spacy   add spaCy and its needs (about 58 MB: with the rest, over the device call's 64 MiB; only fastai's
#                  spaCy tokenizer needs it, `import fastai.text.all` does not)
#   --no-lightgbm  leave out LightGBM (3.5 MB; bench/tabular.py's baseline row imports it in fastlit's process, so it
#                  goes into .whl/fastlit)
#   --no-data      leave .whl/data as it is
# Without spaCy the whole of .whl/ is about 36 MiB (2026-12-07); the device call carries at most 64 MiB of tree in
# all (the tracked files are about 3 MB): the script prints the sizes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
spacy=0; lightgbm=1; data=1
for a in "$@"; do case "$a" in
  --with-spacy) spacy=1;; --no-lightgbm) lightgbm=0;; --no-data) data=0;;
  *) echo "unknown option $a (use --with-spacy, --no-lightgbm, --no-data)"; exit 2;; esac; done

PY=${PYTHON:-python3}
PLAT=(--python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none --platform manylinux_2_28_x86_64
      --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
fetch() {  # fetch DIR PKG==VER...: download exactly these wheels, no dependencies
  local dir=$1; shift; mkdir -p "$dir"
  "$PY" -m pip download -q --disable-pip-version-check --no-cache-dir --no-deps --only-binary=:all: "${PLAT[@]}" -d "$dir" "$@"
}

FASTLIT=(fastcore==1.14.5 fastprogress==1.0.5 execnb==0.1.18 nbdev==2.4.14 fastgit==0.1.4 fastspec==0.1.0
  ghapi==2.0.3 asttokens==3.0.2 astunparse==1.6.3 watchdog==7.1.1 ipython==9.19.1 ipython-pygments-lexers==1.1.1
  jedi==0.20.1 parso==0.8.7 traitlets==5.16.1 prompt-toolkit==3.0.53 wcwidth==0.9.5 pexpect==4.9.0 ptyprocess==0.7.0
  stack-data==0.6.3 executing==2.3.0 pure-eval==0.2.4 matplotlib-inline==0.2.2)
ANCHOR=(fastai==2.8.12 fastcore==2.2.41 fastprogress==1.0.5 fastdownload==0.0.8 fasttransform==0.0.5
  plum-dispatch==2.9.0 beartype==0.23.1 kornia==0.9.0 kornia-rs==0.2.0)
SPACY=(spacy==3.8.18 spacy-legacy==3.0.12 spacy-loggers==1.0.5 thinc==8.3.14 blis==1.3.4 cymem==2.0.16
  preshed==3.0.15 murmurhash==1.0.16 srsly==2.5.6 wasabi==1.1.3 catalogue==2.0.10 confection==1.3.4 weasel==1.0.1
  cloudpathlib==0.26.0 smart-open==9.0.4 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
  typing-inspection==0.4.5)

rm -rf .whl/fastlit .whl/anchor
echo "fastlit's needs -> .whl/fastlit"; fetch .whl/fastlit "${FASTLIT[@]}"
echo "anchors -> .whl/anchor";       fetch .whl/anchor "${ANCHOR[@]}"
if [ $spacy = 1 ]; then echo "spaCy -> .whl/anchor"; fetch .whl/anchor "${SPACY[@]}"; fi
if [ $lightgbm = 1 ]; then echo "LightGBM -> .whl/fastlit"; fetch .whl/fastlit lightgbm==4.7.0; fi

# one version of each distribution per folder, or `pip install --no-index` stops
for d in .whl/fastlit .whl/anchor; do
  dup=$(ls "$d" | sed -E 's/-[0-9].*//' | tr 'A-Z-' 'a-z_' | sort | uniq -d)
  [ -z "$dup" ] || { echo "two versions of: $dup in $d"; exit 1; }
done

if [ $data = 1 ]; then
  SRC=../shared/data
  [ -d "$SRC" ] || { echo "no $SRC: run from a checkout with ../shared beside it (or pass --no-data)"; exit 1; }
  echo "sample data -> .whl/data"
  rm -rf .whl/data; mkdir -p .whl/data
  for d in mnist_tiny camvid_tiny coco_tiny face_landmarks adult_sample ml_sample imdb_sample README.md; do
    cp -r "$SRC/$d" .whl/data/; done
  chmod -R u+w .whl/data
  # CIFAR-10 cut to the first 512 train and 128 test images of each class, in the archive's layout and order
  "$PY" - "$SRC/cifar10_jpg.tar.gz" .whl/data/cifar10_jpg.tar.gz 512 128 <<'EOF'
import sys, tarfile
src, dst, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
want, counts = {'train': n_train, 'test': n_test}, {}
with tarfile.open(src) as tin, tarfile.open(dst, 'w:gz') as tout:
    for m in tin:
        parts = m.name.split('/')
        if not m.isfile() or len(parts) != 3 or parts[0] not in want: continue
        k = (parts[0], parts[1])
        if counts.get(k, 0) >= want[parts[0]]: continue
        counts[k] = counts.get(k, 0) + 1
        tout.addfile(m, tin.extractfile(m))
print(f"  {dst}: {sum(counts.values())} images in {len(counts)} (split, class) folders")
EOF
fi

echo; du -sh .whl/*; du -sh .whl
echo "wheels: $(ls .whl/fastlit | wc -l) in .whl/fastlit, $(ls .whl/anchor | wc -l) in .whl/anchor"
echo "carry '.whl' in the device call (it counts towards its 64 MiB)"
