"""Text layer against fastai 2.8.12, side by side in one run: tokenization throughput, `TextDataLoaders` build time,
the AWD-LSTM classifier's training step, and the quality of the ULMFiT flow from scratch (with a TF-IDF + logistic
regression baseline).

Data: `../shared/data/imdb_sample/texts.csv` (1,000 reviews); the throughput and build rows use it repeated to about
10 MB of text (`--mb`). fastai runs in its own venv as a subprocess (`--other-python`); its rows are skipped with a
note when it is absent.

Usage: python bench/text.py [--device cpu|cuda] [--quick] [--other-python PATH] [--json PATH]
       [--only tok,build,step,quality] [--mb 10] [--workers 2]

On the CPU the training step is timed in CPU time of the process (all its threads), so that a busy machine does
not skew the ratio. Tokenization and build are timed both ways: wall clock, and CPU time of the process plus its
worker processes (`resource.getrusage(RUSAGE_CHILDREN)`, counted once the pool is shut down); the target is judged
on CPU time, which a shared machine does not skew. Run with `OMP_NUM_THREADS=1` for one torch thread per process.

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
    "imdb_sample repeated to about `mb` MB of text (100 texts when quick)."
    df = pd.read_csv(CSV)
    if quick: return df.iloc[:100].reset_index(drop=True)
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
import json, sys, time, math, warnings, os, resource
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
torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads())))
def cpu_time():
    "CPU time of this process and of its finished children (the tokenization workers)."
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime
if task == 'tok':
    df = pd.read_pickle(args['data'])
    texts = df.text.tolist()
    kw = {} if args['lib'] == 'fastai' or args.get('tok') is None else {'tok': SpacyTokenizer()}
    c0, t0 = cpu_time(), time.perf_counter(); toks = tokenize_texts(texts, n_workers=args['workers'], **kw)
    t, c = time.perf_counter() - t0, cpu_time() - c0
    res = dict(seconds=t, cpu=c, tokens=sum(len(o) for o in toks), chars=int(df.text.str.len().sum()))
elif task == 'build':
    df = pd.read_pickle(args['data'])
    c0, t0 = cpu_time(), time.perf_counter()
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', bs=64)
    x, y = dls.one_batch()
    res = dict(seconds=time.perf_counter() - t0, cpu=cpu_time() - c0, vocab=len(dls.vocab[0]))
elif task == 'step':
    df = pd.read_pickle(args['data'])
    set_seed(0)
    same_tok = {} if args['lib'] == 'fastai' else {'tok_tfm': SpacyTokenizer()}   # spaCy both sides: same batch shapes
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', bs=args['bs'],
                                  seq_len=args['seq_len'], device=dev, **same_tok)
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
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))   # one thread: spinning OpenMP threads crawl on a busy CPU
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
    ap.add_argument('--seeds', default='42,1,2', help='seeds of the quality flow (each side runs once per seed)')
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
    def _tps(r, clock): return r['tokens'] / r[clock]
    def _note(r): return f"wall {r['seconds']:.2f} s, CPU {r['cpu']:.2f} s (process + workers)"
    if 'tok' in only:
        ours = side('fastlit', task='tok', data=str(tmp/'big.pkl'), workers=a.workers)
        ours_sp = side('fastlit', task='tok', data=str(tmp/'big.pkl'), workers=a.workers, tok='spacy')
        theirs = side('fastai', task='tok', data=str(tmp/'big.pkl'), workers=a.workers)
        for r, who in ((ours, 'fastlit (WordTokenizer)'), (ours_sp, 'fastlit (SpacyTokenizer)'), (theirs, 'fastai (spaCy)')):
            if r: rows.append(row(f'tokenize {mb:.1f} MB, {who}, {a.workers} workers, tokens per CPU second', _tps(r, 'cpu'),
                                  'tokens/s', note=f"{_note(r)}, {r['tokens']} tokens"))
        if theirs:
            sp = _tps(ours, 'cpu') / _tps(theirs, 'cpu')
            rows.append(row('tokenization speed-up vs fastai (tokens per CPU second)', sp, 'x', '>= 5', sp >= 5))
            rows.append(row('tokenization speed-up vs fastai (tokens per wall second)', _tps(ours, 'seconds') / _tps(theirs, 'seconds'),
                            'x', None, None, 'wall clock: skewed by other load on a shared machine'))
            rows.append(row('tokenization speed-up vs fastai, both spaCy (CPU time)', theirs['cpu'] / ours_sp['cpu'], 'x', None, None,
                            'same tokenizer: the gain of the pipeline alone'))
        else: rows.append(row('tokenization speed-up vs fastai', None, 'x', '>= 5', None, anchor_note))
    if 'build' in only:
        ours = side('fastlit', task='build', data=str(tmp/'big.pkl'))
        theirs = side('fastai', task='build', data=str(tmp/'big.pkl'))
        for r, who in ((ours, 'fastlit'), (theirs, 'fastai')):
            if r: rows.append(row(f'TextDataLoaders.from_df build, {mb:.1f} MB, {who}, CPU time', r['cpu'], 's',
                                  note=f"{_note(r)}, vocab {r['vocab']}"))
        if theirs:
            sp = theirs['cpu'] / ours['cpu']
            rows.append(row('DataLoaders build speed-up vs fastai (CPU time)', sp, 'x', '>= 5', sp >= 5))
            rows.append(row('DataLoaders build speed-up vs fastai (wall clock)', theirs['seconds'] / ours['seconds'], 'x', None, None,
                            'wall clock: skewed by other load on a shared machine'))
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
        data = (pd.concat([full[~full.is_valid].iloc[:32], full[full.is_valid].iloc[:16]]) if q else full)
        data.to_pickle(tmp/'q.pkl')
        e, h, l = map(int, a.q_config.split(','))
        cfg = dict(emb_sz=32, n_hid=64, n_layers=2) if q else dict(emb_sz=e, n_hid=h, n_layers=l)
        seeds = [42] if q else [int(o) for o in a.seeds.split(',')]
        kw = dict(task='quality', data=str(tmp/'q.pkl'), config=cfg, bs=16 if q else 32,
                  lm_epochs=1 if q else a.lm_epochs, clas_epochs=1 if q else a.clas_epochs)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(1 if q else 2 * len(seeds)) as ex:   # every flow is a process of its own, run side by side
            futs = {(lib, sd): ex.submit(side, lib, seed=sd, **kw) for sd in seeds for lib in ('fastlit', 'fastai')}
            res = {k: f.result() for k, f in futs.items()}
        desc = f"config {cfg}, LM {kw['lm_epochs']} ep, classifier 3 + {kw['clas_epochs']} ep (gradual unfreezing)"
        mean = {}
        for lib in ('fastlit', 'fastai'):
            rs = [res[lib, sd] for sd in seeds if res[lib, sd]]
            if not rs: continue
            mean[lib] = sum(r['accuracy'] for r in rs) / len(rs)
            per = ', '.join(f"{r['accuracy']:.3f}" for r in rs)
            lm = ', '.join(f"{r['lm_loss']:.3f}" for r in rs)
            rows.append(row(f"ULMFiT from scratch, accuracy, {lib} (mean of seeds {','.join(map(str, seeds))})", mean[lib], 'accuracy',
                            note=f"{desc}; per seed {per}; LM val loss {lm}; {max(r['seconds'] for r in rs):.0f} s wall"))
        if 'fastai' in mean:
            d = mean['fastlit'] - mean['fastai']
            rows.append(row('ULMFiT accuracy, fastlit - fastai (means)', d, 'accuracy', '>= 0', d >= 0))
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
