"""Text layer against fastai 2.8.12, side by side in one run: tokenization throughput, `TextDataLoaders` build time,
the AWD-LSTM classifier's training step, and the quality of the ULMFiT flow from scratch (with a TF-IDF + logistic
regression baseline).

Data: `../shared/data/imdb_sample/texts.csv` (1,000 reviews); the throughput and build rows use it repeated to about
10 MB of text (`--mb`). fastai runs in its own venv as a subprocess (`--other-python`); its rows are skipped with a
note when it is absent.

Usage: python bench/text.py [--device cpu|cuda] [--quick] [--other-python PATH] [--json PATH]
       [--only tok,build,step,quality] [--mb 10] [--workers 2]

On the CPU the training step is timed in CPU time of the process (all its threads), so that a busy machine does
not skew the ratio; tokenization and build are wall-clock times (they run in worker processes).

Targets: tokenization (tokens/s, default rules, 2 workers) and DataLoaders build >= 5x faster than fastai; training
step of the default-config classifier <= 1.0x fastai's time per batch (same bs, seq_len); ULMFiT-from-scratch accuracy
>= fastai's with the same epochs and config.
"""
import argparse, json, os, subprocess, sys, tempfile, time, platform
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT.parent/'shared'/'data'/'imdb_sample'/'texts.csv'

def big_df(mb:float, quick:bool) -> pd.DataFrame:
    "imdb_sample repeated to about `mb` MB of text (200 texts when quick)."
    df = pd.read_csv(CSV)
    if quick: return df.iloc[:200].reset_index(drop=True)
    k = max(1, round(mb * 1e6 / df.text.str.len().sum()))
    return pd.concat([df] * k, ignore_index=True)

def step_df(bs:int, n_batches:int, words:int) -> pd.DataFrame:
    "`bs * n_batches` training texts cut to `words` words (batches of one shape), and `bs` validation texts."
    df = pd.read_csv(CSV)
    df = df[df.text.str.split().str.len() >= words].copy()
    df['text'] = df.text.str.split().str[:words].str.join(' ')
    tr, va = df[~df.is_valid].iloc[:bs * n_batches], df[df.is_valid].iloc[:bs]
    return pd.concat([tr, va], ignore_index=True)

# ---- the two sides: the same code runs under fastlit (here) and fastai (subprocess), on `from <lib>.text.all import *`
SIDE = r'''
import json, sys, time, math, warnings, os
warnings.filterwarnings('ignore')
import pandas as pd, numpy as np, torch
args = json.loads(sys.argv[1])
if args['lib'] == 'fastai':
    from fastai.text.all import *
    from fastai.callback.core import CancelValidException
else:
    from fastlit.text.all import *
    from fastlit.callback.core import CancelValidException
    from fastlit.torch_core import set_seed
os.environ['FASTLIT_OFFLINE'] = '1'
res = {}
task = args['task']
dev = torch.device(args['device'])
def _quiet(learn):
    for name in ('no_bar', 'no_logging'):
        pass
    return learn
if task == 'tok':
    df = pd.read_pickle(args['data'])
    texts = df.text.tolist()
    kw = {} if args['lib'] == 'fastai' or args.get('tok') is None else {'tok': SpacyTokenizer()}
    t0 = time.perf_counter(); toks = tokenize_texts(texts, n_workers=args['workers'], **kw); t = time.perf_counter() - t0
    res = dict(seconds=t, tokens=sum(len(o) for o in toks), chars=int(df.text.str.len().sum()))
elif task == 'build':
    df = pd.read_pickle(args['data'])
    t0 = time.perf_counter()
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', bs=64)
    x, y = dls.one_batch()
    res = dict(seconds=time.perf_counter() - t0, vocab=len(dls.vocab[0]))
elif task == 'step':
    df = pd.read_pickle(args['data'])
    set_seed(0)
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', bs=args['bs'],
                                  seq_len=args['seq_len'], device=dev)
    cfg = dict(awd_lstm_clas_config, **args.get('config', {}))
    learn = text_classifier_learner(dls, AWD_LSTM, seq_len=args['seq_len'], config=cfg, pretrained=False, drop_mult=0.5)
    learn.model.to(dev)
    class NoValid(Callback):
        def before_validate(self): raise CancelValidException
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    clock = time.perf_counter if dev.type == 'cuda' else time.process_time   # CPU: CPU time, robust to a busy machine
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3, cbs=NoValid())                   # warm-up pass
        times = []
        for _ in range(args['repeats']):
            sync(); t0 = clock(); learn.fit(1, 1e-3, cbs=NoValid()); sync()
            times.append((clock() - t0) / len(dls.train))
    res = dict(per_batch=sorted(times)[len(times) // 2], n_batches=len(dls.train), shape=list(dls.one_batch()[0].shape))
elif task == 'quality':
    df = pd.read_pickle(args['data'])
    lm_cfg, clas_cfg = dict(awd_lstm_lm_config, **args['config']), dict(awd_lstm_clas_config, **args['config'])
    t0 = time.perf_counter()
    set_seed(args['seed'])
    dls_lm = TextDataLoaders.from_df(df, text_col='text', is_lm=True, valid_col='is_valid', bs=args['bs'], seq_len=72, device=dev)
    learn = language_model_learner(dls_lm, AWD_LSTM, config=lm_cfg, pretrained=False, drop_mult=0.3, metrics=[accuracy])
    learn.model.to(dev)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(args['lm_epochs'], 2e-2)
    lm = learn.validate()
    learn.save_encoder('bench_enc')
    set_seed(args['seed'])
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', text_vocab=dls_lm.vocab,
                                  bs=args['bs'], device=dev)
    learn = text_classifier_learner(dls, AWD_LSTM, config=clas_cfg, pretrained=False, drop_mult=0.5, metrics=accuracy)
    learn.model.to(dev)
    learn.load_encoder('bench_enc')
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 2e-2)
        learn.freeze_to(-2); learn.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
        learn.freeze_to(-3); learn.fit_one_cycle(1, slice(5e-3 / (2.6**4), 5e-3))
        learn.unfreeze(); learn.fit_one_cycle(args['clas_epochs'], slice(1e-3 / (2.6**4), 1e-3))
    v = learn.validate()
    res = dict(lm_loss=float(lm[0]), lm_acc=float(lm[1]), accuracy=float(v[1]), seconds=time.perf_counter() - t0)
print('\n' + json.dumps(res))
'''

def run_side(python:str, lib:str, **kw) -> dict:
    "Run one measurement of `lib` in a fresh `python` process; its JSON result."
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    if lib == 'fastlit': env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    p = subprocess.run([python, '-c', SIDE, json.dumps(dict(kw, lib=lib))], capture_output=True, text=True, env=env,
                       cwd=tempfile.mkdtemp())
    if p.returncode != 0: raise RuntimeError(f"{lib} {kw.get('task')} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])

def tfidf_baseline() -> dict:
    "TF-IDF + logistic regression on imdb_sample: validation accuracy and time."
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    df = pd.read_csv(CSV)
    tr, va = df[~df.is_valid], df[df.is_valid]
    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    clf = LogisticRegression(C=10, max_iter=1000).fit(vec.fit_transform(tr.text), tr.label)
    acc = float((clf.predict(vec.transform(va.text)) == va.label).mean())
    return dict(accuracy=acc, seconds=time.perf_counter() - t0)

def row(name, value, unit, target=None, ok=None, note=None):
    r = dict(name=name, value=None if value is None else float(value), unit=unit, target=target, note=note, **{'pass': ok})
    print('row:', json.dumps(r), flush=True)          # each row as soon as it is measured (long runs on a busy CPU)
    return r

def main():
    import torch
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--quick', action='store_true', help='tiny sizes (CI dry run, under 60 s on the CPU)')
    ap.add_argument('--other-python', default=None, help="the fastai venv's python")
    ap.add_argument('--json', default=None)
    ap.add_argument('--only', default='tok,build,step,quality')
    ap.add_argument('--mb', type=float, default=10.)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--q-config', default='128,256,2', help='quality flow: emb_sz,n_hid,n_layers (same for both)')
    ap.add_argument('--lm-epochs', type=int, default=2)
    ap.add_argument('--clas-epochs', type=int, default=1, help='epochs of the last, unfrozen, stage')
    a = ap.parse_args()
    only, q = set(a.only.split(',')), a.quick
    me, other = sys.executable, a.other_python
    if other and not Path(other).exists(): other = None
    anchor_note = None if other else 'fastai anchor skipped: pass --other-python (the fastai venv)'
    tmp = Path(tempfile.mkdtemp())
    rows = []
    def side(lib, **kw):
        if lib == 'fastai' and not other: return None
        return run_side(me if lib == 'fastlit' else other, lib, device=a.device, **kw)
    if 'tok' in only or 'build' in only:
        df = big_df(a.mb, q); df.to_pickle(tmp/'big.pkl')
        mb = df.text.str.len().sum() / 1e6
    if 'tok' in only:
        ours = side('fastlit', task='tok', data=str(tmp/'big.pkl'), workers=a.workers)
        ours_sp = side('fastlit', task='tok', data=str(tmp/'big.pkl'), workers=a.workers, tok='spacy')
        theirs = side('fastai', task='tok', data=str(tmp/'big.pkl'), workers=a.workers)
        rows.append(row(f'tokenize {mb:.1f} MB, fastlit (WordTokenizer), {a.workers} workers', ours['tokens'] / ours['seconds'], 'tokens/s',
                        note=f"{ours['seconds']:.2f} s, {ours['tokens']} tokens"))
        rows.append(row(f'tokenize {mb:.1f} MB, fastlit (SpacyTokenizer), {a.workers} workers', ours_sp['tokens'] / ours_sp['seconds'], 'tokens/s',
                        note=f"{ours_sp['seconds']:.2f} s, {ours_sp['tokens']} tokens"))
        if theirs:
            rows.append(row(f'tokenize {mb:.1f} MB, fastai (spaCy), {a.workers} workers', theirs['tokens'] / theirs['seconds'], 'tokens/s',
                            note=f"{theirs['seconds']:.2f} s, {theirs['tokens']} tokens"))
            sp = (ours['tokens'] / ours['seconds']) / (theirs['tokens'] / theirs['seconds'])
            rows.append(row('tokenization speed-up vs fastai (tokens/s)', sp, 'x', '>= 5', sp >= 5))
            sp2 = theirs['seconds'] / ours_sp['seconds']
            rows.append(row('tokenization speed-up vs fastai, both spaCy (same texts, time)', sp2, 'x', None, None,
                            'same tokenizer: the gain of the pipeline alone'))
        else: rows.append(row('tokenization speed-up vs fastai', None, 'x', '>= 5', None, anchor_note))
    if 'build' in only:
        ours = side('fastlit', task='build', data=str(tmp/'big.pkl'))
        theirs = side('fastai', task='build', data=str(tmp/'big.pkl'))
        rows.append(row(f'TextDataLoaders.from_df build, {mb:.1f} MB, fastlit', ours['seconds'], 's', note=f"vocab {ours['vocab']}"))
        if theirs:
            rows.append(row(f'TextDataLoaders.from_df build, {mb:.1f} MB, fastai', theirs['seconds'], 's', note=f"vocab {theirs['vocab']}"))
            sp = theirs['seconds'] / ours['seconds']
            rows.append(row('DataLoaders build speed-up vs fastai', sp, 'x', '>= 5', sp >= 5))
        else: rows.append(row('DataLoaders build speed-up vs fastai', None, 'x', '>= 5', None, anchor_note))
    if 'step' in only:
        bs, sl, nb = (4, 24, 2) if q else (16, 72, 3)
        step_df(bs, nb, 30 if q else 130).to_pickle(tmp/'step.pkl')
        cfg = dict(emb_sz=32, n_hid=64, n_layers=2) if q else {}
        kw = dict(task='step', data=str(tmp/'step.pkl'), bs=bs, seq_len=sl, config=cfg, repeats=1 if q else a.repeats)
        ours, theirs = side('fastlit', **kw), side('fastai', **kw)
        what = 'tiny config' if q else 'default config'
        rows.append(row(f'AWD-LSTM classifier train step ({what}, bs {bs}, seq_len {sl}), fastlit', ours['per_batch'], 's/batch',
                        note=f"batch {ours['shape']}"))
        if theirs:
            rows.append(row(f'AWD-LSTM classifier train step ({what}, bs {bs}, seq_len {sl}), fastai', theirs['per_batch'], 's/batch',
                            note=f"batch {theirs['shape']}"))
            r = ours['per_batch'] / theirs['per_batch']
            rows.append(row('train step time, fastlit / fastai', r, 'x', '<= 1.0', r <= 1.0))
        else: rows.append(row('train step time, fastlit / fastai', None, 'x', '<= 1.0', None, anchor_note))
    if 'quality' in only:
        full = pd.read_csv(CSV)
        data = (pd.concat([full[~full.is_valid].iloc[:60], full[full.is_valid].iloc[:20]]) if q else full)
        data.to_pickle(tmp/'q.pkl')
        e, h, l = map(int, a.q_config.split(','))
        cfg = dict(emb_sz=32, n_hid=64, n_layers=2) if q else dict(emb_sz=e, n_hid=h, n_layers=l)
        kw = dict(task='quality', data=str(tmp/'q.pkl'), config=cfg, seed=42, bs=16 if q else 32,
                  lm_epochs=1 if q else a.lm_epochs, clas_epochs=1 if q else a.clas_epochs)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as ex:              # the two flows side by side: each is a process of its own
            f1, f2 = ex.submit(side, 'fastlit', **kw), ex.submit(side, 'fastai', **kw)
            ours, theirs = f1.result(), f2.result()
        desc = f"config {cfg}, LM {kw['lm_epochs']} ep, classifier 3 + {kw['clas_epochs']} ep (gradual unfreezing)"
        rows.append(row('ULMFiT from scratch, accuracy, fastlit', ours['accuracy'], 'accuracy',
                        note=f"{desc}; LM val loss {ours['lm_loss']:.3f}; {ours['seconds']:.0f} s"))
        if theirs:
            rows.append(row('ULMFiT from scratch, accuracy, fastai', theirs['accuracy'], 'accuracy',
                            note=f"same flow; LM val loss {theirs['lm_loss']:.3f}; {theirs['seconds']:.0f} s"))
            d = ours['accuracy'] - theirs['accuracy']
            rows.append(row('ULMFiT accuracy, fastlit - fastai', d, 'accuracy', '>= 0', d >= 0))
        else: rows.append(row('ULMFiT accuracy, fastlit - fastai', None, 'accuracy', '>= 0', None, anchor_note))
        b = tfidf_baseline()
        rows.append(row('TF-IDF (1-2 grams) + logistic regression, accuracy', b['accuracy'], 'accuracy', note=f"{b['seconds']:.1f} s"))
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else (platform.processor() or platform.machine()) + f' ({os.cpu_count()} CPUs)'
    out = dict(bench='text', device=dev, torch=torch.__version__, rows=rows)
    print(f"\n| {'measure':<80} | value | unit | target | pass | note |\n|---|---|---|---|---|---|")
    for r in rows:
        v = '' if r['value'] is None else f"{r['value']:.4g}"
        print(f"| {r['name']} | {v} | {r['unit']} | {r['target'] or ''} | {'' if r['pass'] is None else ('PASS' if r['pass'] else 'MISS')} | {r['note'] or ''} |")
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
