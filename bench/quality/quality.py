#!/usr/bin/env python3
"""Detection, forecast and drift quality of mpe-monitor beside cleanlab, river and exact refits.

Run through bench/quality/run (which installs the peers and builds the binary). Sections:

1. detection  For every dataset x noise setting x seed: scripts/make-data writes the noisy
              stream; `mpe-monitor replay` (default learner) scores it in one pass; the peers
              score the same file:
                cleanlab   get_label_quality_scores / find_label_issues on 5-fold cross-validated
                           probabilities of scikit-learn's multinomial LogisticRegression (C=1,
                           its default: what a user would run);
                river      linear_model.SoftmaxRegression, test-then-train, scored by the
                           prequential probability of the given label;
                exact      scikit-learn multinomial LogisticRegression at our prior precision
                           (C = 1/delta): the in-sample probability of the label, and the
                           probability after refitting without the example (warm-started L-BFGS,
                           tol 1e-8) on a random subsample at the headline setting (10 %
                           uniform, seed 1; digits 300 examples, Fashion 20, half of them
                           flipped; `--exact-all-noises` adds every digits noise level).
              Fashion-MNIST runs 10 % uniform and the class-conditional setting by default;
              `--all-fashion-noises` adds 5 % and 20 % (about 3.5 CPU-minutes more: cleanlab's
              5-fold fits dominate), which keeps the default run within 15 minutes.
              Metrics per score: AUROC, average precision, precision@k (k = number of flips).
              Detection delay (our streaming flag): for each flipped example that is flagged
              `mislabeled`, examples learned between its arrival and its first flag (0 = flagged
              on arrival; later flags come from re-scorings of the memory).
2. forecast   The LOO forecast (mean LOO NLL / error over the memory, at every re-scoring)
              against the held-out NLL / error under the posterior of the same moment, on the
              clean test split and on the test split noised by the same process as the stream
              (`make-data --noisy-test`), and the recent prequential NLL as the other estimator;
              for each posterior family and each perturbation formula.
3. drift      Fashion-MNIST streams with a known change at the middle (two classes swap labels;
              images shift 3 pixels right) and stationary streams: per detector and series,
              the delay of the first detection after the change, and false alarms per 10,000
              examples (detections on stationary streams and before the change).
4. prior      A sweep of the prior precision on digits (d=64), Fashion-MNIST pooled 2x2
              (d=196) and Fashion-MNIST (d=784): the evidence for the default.
5. rerun      What the LOO figures estimate, measured directly: the learner run again over the
              stream without one example, for a random sample of the examples in the final
              memory; the example's NLL under that run's final mean is its true leave-one-out
              NLL for this online learner, beside the estimate (-log label_quality) and the
              in-sample NLL of the full run. Shows how much of the forecast's error is the
              perturbation's (the diagonal family ignores correlations between weights).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_DATA = os.path.join(ROOT, "scripts", "make-data")
SCORES_OURS = ["label_quality", "memorization", "sensitivity", "curvature", "deviation", "prequential"]

ARGS = None   # set in main(); read by worker processes through fork


# ---------------------------------------------------------------- data

def make_data(dataset, noise, mode, seed, limit=None, src=None, dst=None):
    name = "%s-%s-n%g-s%d" % (dataset, "uniform" if mode == "uniform" else "cc%d-%d" % (src, dst), noise, seed)
    if limit:
        name += "-lim%d" % limit
    out = os.path.join(ARGS.out, "data", name)
    if not os.path.exists(os.path.join(out, "meta.json")):
        cmd = [sys.executable, MAKE_DATA, dataset, "--noise", str(noise), "--mode", mode, "--seed", str(seed),
               "--noisy-test", "--out", out]
        if mode != "uniform":
            cmd += ["--from", str(src), "--to", str(dst)]
        if limit:
            cmd += ["--limit", str(limit)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def headline(dataset, noise=0.1):
    """The setting the forecast, prior, re-run and drift sections share with detection: uniform
    flips, seed 1 (Fashion-MNIST: its first --fashion-limit lines). Spelled once, so that main()
    writes exactly these streams before the jobs that read them start."""
    return (dataset, noise, "uniform", 1, None if dataset == "digits" else ARGS.fashion_limit, None, None)


def load_jsonl(path):
    ids, xs, ys = [], [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            ids.append(r["id"])
            xs.append(r["x"])
            ys.append(r["y"])
    return ids, np.array(xs, dtype=np.float64), np.array(ys, dtype=np.int64)


def write_jsonl(path, ids, X, y):
    with open(path, "w") as f:
        for i in range(len(y)):
            xs = ",".join(("%.4f" % v).rstrip("0").rstrip(".") for v in X[i])
            f.write('{"id":"%s","x":[%s],"y":%d}\n' % (ids[i], xs, y[i]))


def read_truth(path):
    with open(path) as f:
        return set(f.read().split())


# ---------------------------------------------------------------- running mpe-monitor

def replay(train, tag, extra=(), test=None, test_noisy=None, truth=None):
    """Runs the release binary once; returns (summary, scores by id, wall seconds)."""
    run = os.path.join(ARGS.out, "runs", tag)
    os.makedirs(run, exist_ok=True)
    cmd = [ARGS.binary, "replay", train, "--quiet", "--summary", os.path.join(run, "summary.json"),
           "--scores", os.path.join(run, "scores.jsonl")] + list(extra)
    if test:
        cmd += ["--test", test]
    if test_noisy:
        cmd += ["--test-noisy", test_noisy]
    if truth:
        cmd += ["--truth", truth]
    started = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - started
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    scores = {}
    with open(os.path.join(run, "scores.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            scores[r["id"]] = r
    return summary, scores, wall


# ---------------------------------------------------------------- metrics

def ranking(score, positive):
    """AUROC, average precision, precision@k (k = positives); higher score = more suspicious.
    Tied scores form one block (as scikit-learn, and as mpe-monitor's own report)."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    score = np.asarray(score, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    k = int(positive.sum())
    if k == 0 or k == len(positive):
        return {"auroc": float("nan"), "ap": float("nan"), "p@k": float("nan"), "k": k}
    order = np.argsort(-score, kind="stable")
    s, p = score[order], positive[order]
    hits, seen, i = 0.0, 0, 0
    while i < len(s) and seen < k:
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        block = j - i
        taken = min(block, k - seen)
        hits += taken * p[i:j].sum() / block
        seen += block
        i = j
    return {"auroc": float(roc_auc_score(positive, score)), "ap": float(average_precision_score(positive, score)),
            "p@k": hits / k, "k": k}


def corr(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------- peers

def label_prob(P, y):
    return P[np.arange(len(y)), y]


def peer_cleanlab(X, y):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    started = time.time()
    P = cross_val_predict(LogisticRegression(max_iter=1000), X, y, method="predict_proba",
                          cv=StratifiedKFold(5, shuffle=True, random_state=0))
    quality = get_label_quality_scores(y, P)
    issues = find_label_issues(y, P)
    return {"score": 1 - quality, "issues": issues, "seconds": time.time() - started}


def peer_river(X, y):
    from river import linear_model
    started = time.time()
    model = linear_model.SoftmaxRegression()
    prob = np.empty(len(y))
    for i in range(len(y)):
        xi = {j: float(v) for j, v in enumerate(X[i]) if v != 0.0}
        prob[i] = model.predict_proba_one(xi).get(int(y[i]), 0.0)
        model.learn_one(xi, int(y[i]))
    return {"score": 1 - prob, "seconds": time.time() - started}


def peer_exact(X, y, delta, subsample, seed, positive=None):
    """In-sample and leave-one-out label probabilities of the MAP of multinomial logistic
    regression with prior N(0, 1/delta) on the weights (scikit-learn: C = 1/delta)."""
    import warnings
    from sklearn.linear_model import LogisticRegression
    started = time.time()
    full = LogisticRegression(C=1.0 / delta, max_iter=5000, tol=1e-8).fit(X, y)
    in_sample = label_prob(full.predict_proba(X), y)
    fit_seconds = time.time() - started
    rng = np.random.RandomState(seed)
    if positive is None:      # a uniform random subsample
        rows = np.sort(rng.choice(len(y), min(subsample, len(y)), replace=False))
    else:                     # half flipped, half clean (when refits are too slow for a useful uniform sample)
        half = subsample // 2
        rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(positive), half, replace=False),
                                       rng.choice(np.flatnonzero(~positive), half, replace=False)]))
    loo = np.empty(len(rows))
    mask = np.ones(len(y), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n, i in enumerate(rows):
            mask[i] = False
            m = LogisticRegression(C=1.0 / delta, max_iter=5000, tol=1e-8, warm_start=True)
            m.coef_, m.intercept_ = full.coef_.copy(), full.intercept_.copy()
            m.fit(X[mask], y[mask])
            loo[n] = m.predict_proba(X[i:i + 1])[0, y[i]]
            mask[i] = True
    return {"in_sample": 1 - in_sample, "loo": 1 - loo, "rows": rows, "fit_seconds": fit_seconds,
            "seconds": time.time() - started}


# ---------------------------------------------------------------- section 1: detection

def detection_job(setting):
    dataset, noise, mode, seed, limit, src, dst = setting
    d = make_data(dataset, noise, mode, seed, limit, src, dst)
    tag = os.path.basename(d)
    summary, scores, wall = replay(os.path.join(d, "train.jsonl"), "detect-" + tag, test=os.path.join(d, "test.jsonl"),
                                   test_noisy=os.path.join(d, "test-noisy.jsonl"), truth=os.path.join(d, "truth.txt"))
    ids, X, y = load_jsonl(os.path.join(d, "train.jsonl"))
    truth = read_truth(os.path.join(d, "truth.txt"))
    positive = np.array([i in truth for i in ids])
    delta = summary["configuration"]["prior_precision"]
    row = {"dataset": dataset, "noise": noise, "mode": mode if mode == "uniform" else "%d->%d" % (src, dst), "seed": seed,
           "n": len(y), "flips": int(positive.sum()), "delta": delta, "family": summary["configuration"]["family"],
           "metrics": {}, "seconds": {}}
    oriented = {"label_quality": lambda r: 1 - r["label_quality"], "memorization": lambda r: r["memorization"],
                "sensitivity": lambda r: r["sensitivity"], "curvature": lambda r: r["curvature"],
                "deviation": lambda r: r["deviation"], "prequential": lambda r: 1 - r["prequential_label_probability"]}
    for name, f in oriented.items():
        row["metrics"]["ours:" + name] = ranking([f(scores[i]) for i in ids], positive)
    row["seconds"]["ours"] = summary["seconds"]
    row["test_error"] = summary["test_error"]

    # Our streaming flag: precision, recall and delay.
    flagged = [i for i in ids if scores[i]["first_mislabeled_flag"] is not None]
    delays = [scores[i]["first_mislabeled_flag"] - scores[i]["arrival"] for i in flagged if i in truth]
    row["flag"] = {"flagged": len(flagged), "precision": len(delays) / max(len(flagged), 1),
                   "recall": len(delays) / max(len(truth), 1),
                   "delay_median": float(np.median(delays)) if delays else float("nan"),
                   "delay_p90": float(np.percentile(delays, 90)) if delays else float("nan"),
                   "on_arrival": float(np.mean([x == 0 for x in delays])) if delays else float("nan")}
    row["drift_events"] = summary["drift_events"]

    cl = peer_cleanlab(X, y)
    row["metrics"]["cleanlab"] = ranking(cl["score"], positive)
    issues = np.asarray(cl["issues"], dtype=bool)
    row["cleanlab_issues"] = {"flagged": int(issues.sum()), "precision": float(positive[issues].mean()) if issues.any() else float("nan"),
                              "recall": float(issues[positive].mean())}
    row["seconds"]["cleanlab"] = cl["seconds"]
    rv = peer_river(X, y)
    row["metrics"]["river"] = ranking(rv["score"], positive)
    row["seconds"]["river"] = rv["seconds"]
    # Exact refits without each example are slow (one L-BFGS fit per example): on a random
    # subsample, at the headline setting only (each further digits noise level costs about 30
    # CPU-s, hence the flag); the in-sample probability comes from one fit, for every run.
    loo_rows = 0
    if dataset == "digits" and (setting == headline(dataset) or (seed == 1 and ARGS.exact_all_noises)):
        loo_rows = ARGS.exact_subsample
    elif dataset != "digits" and setting == headline(dataset):
        loo_rows = ARGS.exact_subsample_fashion
    ex = peer_exact(X, y, delta, loo_rows, seed, positive if dataset != "digits" else None)
    row["metrics"]["exact:in-sample"] = ranking(ex["in_sample"], positive)
    row["seconds"]["exact"] = ex["seconds"]
    if loo_rows:
        sub = ex["rows"]
        row["metrics"]["exact:loo"] = ranking(ex["loo"], positive[sub])
        row["exact_rows"] = len(sub)
        lq = np.array([1 - scores[ids[i]]["label_quality"] for i in sub])
        row["metrics"]["ours:label_quality@sub"] = ranking(lq, positive[sub])
        row["metrics"]["cleanlab@sub"] = ranking(cl["score"][sub], positive[sub])
        row["metrics"]["exact:in-sample@sub"] = ranking(ex["in_sample"][sub], positive[sub])
    return row


def detection_settings():
    out = []
    seeds = [1] if ARGS.quick else list(range(1, ARGS.seeds + 1))
    for seed in seeds:
        for noise in (0.05, 0.10, 0.20):
            out.append(("digits", noise, "uniform", seed, None, None, None))
        out.append(("digits", 0.4, "class-conditional", seed, None, 1, 7))
    if not ARGS.quick:
        for seed in range(1, ARGS.fashion_seeds + 1):
            for noise in ((0.05, 0.10, 0.20) if ARGS.all_fashion_noises else (0.10,)):
                out.append(("fashion-mnist", noise, "uniform", seed, ARGS.fashion_limit, None, None))
            out.append(("fashion-mnist", 0.4, "class-conditional", seed, ARGS.fashion_limit, 6, 0))
    return out


# ---------------------------------------------------------------- section 2: forecast

FAMILIES = [("diagonal/ggn", ["--family", "diagonal", "--curvature", "ggn"]),
            ("diagonal/ivon", ["--family", "diagonal", "--curvature", "ivon"]),
            ("full", ["--family", "full"])]


def forecast_job(job):
    dataset, d, family, fargs, perturbation, interval = job
    tag = "forecast-%s-%s-%s" % (os.path.basename(d), family.replace("/", "-"), perturbation)
    summary, _, wall = replay(os.path.join(d, "train.jsonl"), tag,
                              extra=fargs + ["--perturbation", perturbation, "--rescore-interval", str(interval)],
                              test=os.path.join(d, "test.jsonl"), test_noisy=os.path.join(d, "test-noisy.jsonl"))
    series = summary["forecast_series"]
    loo = np.array([p["loo_nll"] for p in series])
    loo_err = np.array([p["loo_error"] for p in series])
    preq = np.array([p["recent_prequential_nll"] for p in series])
    noisy = np.array([p["test_noisy_nll"] for p in series])
    noisy_err = np.array([p["test_noisy_error"] for p in series])
    clean = np.array([p["test_nll"] for p in series])
    return {"dataset": dataset, "family": family, "perturbation": perturbation, "points": len(series), "interval": interval,
            "seconds": summary["seconds"],
            "loo_vs_noisy_mae": float(np.abs(loo - noisy).mean()), "loo_vs_noisy_corr": corr(loo, noisy),
            "loo_err_vs_noisy_mae": float(np.abs(loo_err - noisy_err).mean()),
            "preq_vs_noisy_mae": float(np.abs(preq - noisy).mean()), "preq_vs_noisy_corr": corr(preq, noisy),
            "loo_vs_clean_mae": float(np.abs(loo - clean).mean()), "loo_vs_clean_corr": corr(loo, clean),
            "loo_vs_preq_mae": float(np.abs(loo - preq).mean()),
            "end_loo": float(loo[-1]), "end_noisy": float(noisy[-1]), "end_clean": float(clean[-1]),
            "end_noisy_error": float(noisy_err[-1]), "end_loo_error": float(loo_err[-1])}


def forecast_jobs():
    jobs = []
    digits = make_data(*headline("digits"))
    for family, fargs in FAMILIES:
        for perturbation in ("corrected", "first-order"):
            jobs.append(("digits", digits, family, fargs, perturbation, 64))
    if not ARGS.quick:
        fashion = make_data(*headline("fashion-mnist"))
        for family, fargs in FAMILIES[:2]:      # full keeps a (785*10)^2 covariance: ~4 examples/s
            for perturbation in ("corrected", "first-order"):
                jobs.append(("fashion-mnist", fashion, family, fargs, perturbation, 256))
    return jobs


# ---------------------------------------------------------------- section 5: re-runs without one example

RERUN_FAMILIES = {"diagonal/ggn": ["--family", "diagonal", "--curvature", "ggn"], "full": ["--family", "full"]}


def rerun_jobs():
    """(dataset, data dir, family, index left out or None for the full run) for every re-run."""
    jobs = []
    sets = [("digits", make_data(*headline("digits")), ["diagonal/ggn", "full"])]
    if not ARGS.quick:
        sets.append(("fashion-mnist", make_data(*headline("fashion-mnist")), ["diagonal/ggn"]))
    rng = np.random.default_rng(5)
    for dataset, d, families in sets:
        with open(os.path.join(d, "train.jsonl")) as f:
            n = sum(1 for _ in f)
        # The default memory is a window of the last 2048 examples: all of them are in it.
        sample = sorted(rng.choice(np.arange(max(0, n - 2048), n), size=ARGS.rerun_sample, replace=False).tolist())
        for family in families:
            jobs.append((dataset, d, family, None))
            jobs += [(dataset, d, family, int(i)) for i in sample]
    return jobs


def rerun_job(job):
    dataset, d, family, left_out = job
    name = "rerun-%s-%s-%s" % (os.path.basename(d), family.replace("/", "-"), "all" if left_out is None else left_out)
    train = os.path.join(d, "train.jsonl")
    if left_out is None:
        _, scores, wall = replay(train, name, extra=RERUN_FAMILIES[family])
        return {"dataset": dataset, "family": family, "left_out": None, "scores": scores, "seconds": wall}
    run = os.path.join(ARGS.out, "runs", name)
    os.makedirs(run, exist_ok=True)
    with open(train) as f:
        lines = f.readlines()
    with open(os.path.join(run, "without.jsonl"), "w") as f:
        f.writelines(lines[:left_out] + lines[left_out + 1:])
    with open(os.path.join(run, "one.jsonl"), "w") as f:
        f.write(lines[left_out])
    summary, _, wall = replay(os.path.join(run, "without.jsonl"), name, extra=RERUN_FAMILIES[family],
                              test=os.path.join(run, "one.jsonl"))
    return {"dataset": dataset, "family": family, "left_out": left_out, "id": json.loads(lines[left_out])["id"],
            "true_nll": summary["test_nll"], "seconds": wall}


def rerun_summary(results):
    from scipy.stats import spearmanr
    rows = []
    for key in sorted({(r["dataset"], r["family"]) for r in results}):
        full = next(r for r in results if (r["dataset"], r["family"]) == key and r["left_out"] is None)
        est, ins, true = [], [], []
        for r in results:
            if (r["dataset"], r["family"]) != key or r["left_out"] is None:
                continue
            s = full["scores"][r["id"]]
            est.append(-math.log(max(s["label_quality"], 1e-10)))
            ins.append(-math.log(max(min(s["label_quality"] + s["memorization"], 1.0), 1e-10)))
            true.append(r["true_nll"])
        est, ins, true = np.array(est), np.array(ins), np.array(true)
        shift_true, shift_est = true - ins, est - ins
        rows.append({"dataset": key[0], "family": key[1], "n": len(true), "in_sample": float(ins.mean()),
                     "estimate": float(est.mean()), "true": float(true.mean()),
                     "ratio": float(shift_est.mean() / shift_true.mean()) if shift_true.mean() > 0 else float("nan"),
                     "spearman": float(spearmanr(shift_est, shift_true)[0]),
                     "mae": float(np.abs(est - true).mean()), "seconds": sum(r["seconds"] for r in results if (r["dataset"], r["family"]) == key)})
    return rows


# ---------------------------------------------------------------- section 3: drift

def drift_streams():
    """Writes the drift streams from clean Fashion-MNIST; returns [(name, path, change point)]."""
    base = make_data(*headline("fashion-mnist", 0.0))
    ids, X, y = load_jsonl(os.path.join(base, "train.jsonl"))
    half = len(y) // 2
    out = os.path.join(ARGS.out, "data", "drift")
    os.makedirs(out, exist_ok=True)
    streams = [("stationary (clean)", os.path.join(base, "train.jsonl"), None)]
    swap = y.copy()
    a, b = 1, 8                        # trouser <-> bag, from the middle on
    later = np.arange(len(y)) >= half
    swap[later & (y == a)], swap[later & (y == b)] = b, a
    path = os.path.join(out, "label-swap.jsonl")
    if not os.path.exists(path):
        write_jsonl(path, ids, X, swap)
    streams.append(("labels 1<->8 swap", path, half))
    shifted = X.copy().reshape(-1, 28, 28)
    shifted[half:, :, 3:] = X.reshape(-1, 28, 28)[half:, :, :-3]   # 3 pixels to the right
    shifted[half:, :, :3] = 0
    path = os.path.join(out, "input-shift.jsonl")
    if not os.path.exists(path):
        write_jsonl(path, ids, shifted.reshape(len(y), -1), y)
    streams.append(("inputs shift 3 px", path, half))
    return streams


def drift_job(stream):
    name, path, change = stream
    summary, _, _ = replay(path, "drift-" + name.split()[0] + "-" + name.split()[1])
    return {"name": name, "n": summary["examples"], "change": change, "events": summary["drift_events"]}


DETECTORS = [("prequential_nll", "page-hinkley"), ("prequential_nll", "adwin"), ("loo_nll", "page-hinkley"), ("loo_nll", "adwin")]


# ---------------------------------------------------------------- section 4: prior precision

def pooled_fashion():
    """Fashion-MNIST 10 % flips with 2x2 average pooling: d = 196, same ids, labels, truth."""
    src = make_data(*headline("fashion-mnist"))
    out = src + "-pool2"
    if not os.path.exists(os.path.join(out, "truth.txt")):
        os.makedirs(out, exist_ok=True)
        for name in ("train.jsonl", "test.jsonl", "test-noisy.jsonl"):
            ids, X, y = load_jsonl(os.path.join(src, name))
            pooled = X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(y), -1)
            write_jsonl(os.path.join(out, name), ids, pooled, y)
        with open(os.path.join(src, "truth.txt")) as f, open(os.path.join(out, "truth.txt"), "w") as g:
            g.write(f.read())
    return out


def prior_job(job):
    name, d, delta = job
    summary, _, _ = replay(os.path.join(d, "train.jsonl"), "prior-%s-%s" % (os.path.basename(d), delta),
                           extra=([] if delta == "default" else ["--prior-precision", str(delta)]),
                           test=os.path.join(d, "test.jsonl"), test_noisy=os.path.join(d, "test-noisy.jsonl"),
                           truth=os.path.join(d, "truth.txt"))
    lq = summary["detection"]["label_quality"]
    series = summary["forecast_series"]
    mae = float(np.mean([abs(p["loo_nll"] - p["test_noisy_nll"]) for p in series]))
    return {"dataset": name, "delta": summary["configuration"]["prior_precision"], "is_default": delta == "default",
            "auroc": lq["auroc"], "ap": lq["average_precision"], "test_error": summary["test_error"],
            "test_nll": summary["test_nll"], "noisy_nll": summary["test_noisy_nll"], "loo_nll": summary["loo_nll"],
            "forecast_mae": mae}


def prior_jobs():
    sets = [("digits d=64", make_data(*headline("digits")))]
    if not ARGS.quick:
        sets += [("fashion pooled d=196", pooled_fashion()),
                 ("fashion d=784", make_data(*headline("fashion-mnist")))]
    return [(name, d, delta) for name, d in sets for delta in ["default", 1, 3, 10, 30, 100, 300, 1000]]


# ---------------------------------------------------------------- report

def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return "%.*f" % (digits, x)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def report(detection, forecast, drift, prior, seconds, rerun=()):
    out = []
    # Detection, averaged over seeds per setting.
    out.append("## Detection of flipped labels (AUROC / average precision / precision@k, mean over seeds)\n")
    groups = {}
    for r in detection:
        groups.setdefault((r["dataset"], r["mode"], r["noise"]), []).append(r)
    names = ["ours:label_quality", "ours:memorization", "ours:sensitivity", "ours:curvature", "ours:prequential",
             "cleanlab", "river", "exact:in-sample"]
    header = ["dataset", "noise", "seeds", "n", "k"] + [n.replace("ours:", "") for n in names]
    rows = []
    for (dataset, mode, noise), rs in groups.items():
        cells = [dataset, ("%g %%" % (noise * 100)) + (" uniform" if mode == "uniform" else " of class " + mode),
                 len(rs), rs[0]["n"], fmt(np.mean([r["flips"] for r in rs]), 0)]
        for n in names:
            ms = [r["metrics"][n] for r in rs if n in r["metrics"]]
            if not ms:
                cells.append("—")
                continue
            cells.append("%s / %s / %s" % tuple(fmt(np.mean([m[key] for m in ms])) for key in ("auroc", "ap", "p@k")))
        rows.append(cells)
    out.append(table(header, rows))
    subs = [r for r in detection if "ours:label_quality@sub" in r["metrics"]]
    for r in subs:
        out.append("\n%s %g %% seed %d: exact LOO on a %s subsample of %d examples; on the same subsample "
                   "ours label_quality %s / %s, cleanlab %s / %s, exact in-sample %s / %s, exact LOO %s / %s (AUROC / AP)." % (
                       r["dataset"], r["noise"] * 100, r["seed"], "random" if r["dataset"] == "digits" else "half-flipped", r["exact_rows"],
                       fmt(r["metrics"]["ours:label_quality@sub"]["auroc"]), fmt(r["metrics"]["ours:label_quality@sub"]["ap"]),
                       fmt(r["metrics"]["cleanlab@sub"]["auroc"]), fmt(r["metrics"]["cleanlab@sub"]["ap"]),
                       fmt(r["metrics"]["exact:in-sample@sub"]["auroc"]), fmt(r["metrics"]["exact:in-sample@sub"]["ap"]),
                       fmt(r["metrics"]["exact:loo"]["auroc"]), fmt(r["metrics"]["exact:loo"]["ap"])))

    out.append("\n### Per run: best mpe-monitor score against cleanlab (same run)\n")
    rows = []
    for r in detection:
        ours = {k: v for k, v in r["metrics"].items() if k.startswith("ours:") and "@" not in k}
        best = max(ours, key=lambda k: ours[k]["auroc"])
        cl = r["metrics"]["cleanlab"]
        ok = ours[best]["auroc"] >= cl["auroc"] and ours[best]["ap"] >= cl["ap"]
        rows.append([r["dataset"], "%g %s" % (r["noise"], r["mode"]), r["seed"], best.replace("ours:", ""),
                     fmt(ours[best]["auroc"]), fmt(ours[best]["ap"]), fmt(cl["auroc"]), fmt(cl["ap"]),
                     "yes" if ok else "**no**", fmt(r["test_error"])])
    out.append(table(["dataset", "noise", "seed", "best score", "AUROC", "AP", "cleanlab AUROC", "cleanlab AP",
                      ">= cleanlab", "our test error"], rows))

    out.append("\n### Flags and runtime (mean over seeds)\n")
    out.append("`mislabeled` flag of mpe-monitor (delay = examples learned between a flipped example's arrival "
               "and its first flag; 0 = on arrival) beside cleanlab's `find_label_issues` set; seconds per run.\n")
    rows = []
    for (dataset, mode, noise), rs in groups.items():
        f = lambda key: np.mean([r["flag"][key] for r in rs])
        c = lambda key: np.mean([r["cleanlab_issues"][key] for r in rs])
        s = lambda key: np.mean([r["seconds"][key] for r in rs if key in r["seconds"]]) if any(key in r["seconds"] for r in rs) else float("nan")
        rows.append([dataset, "%g %s" % (noise, mode), fmt(f("precision")), fmt(f("recall")), fmt(f("on_arrival")),
                     fmt(np.nanmean([r["flag"]["delay_median"] for r in rs]), 0), fmt(np.nanmean([r["flag"]["delay_p90"] for r in rs]), 0),
                     fmt(c("precision")), fmt(c("recall")),
                     fmt(s("ours"), 2), fmt(s("cleanlab"), 2), fmt(s("river"), 2), fmt(s("exact"), 1)])
    out.append(table(["dataset", "noise", "flag precision", "flag recall", "share on arrival", "median delay", "p90 delay",
                      "cleanlab issues precision", "cleanlab recall", "ours s", "cleanlab s", "river s", "exact s"], rows))

    if forecast:
        out.append("\n## Forecast: LOO NLL over the memory vs held-out NLL under the same posterior, at every re-scoring\n")
        out.append("held-out *noisy*: the test split with labels from the stream's noise process (the like-for-like "
                   "target); *clean*: the clean test split. MAE and Pearson correlation over the series; "
                   "`preq` = recent prequential NLL (about the last memory-size examples) as the other estimator.\n")
        # The default learner's family per dataset (`family: auto` resolves by model size), as
        # the detection runs (default learner) report it; corrected is the default perturbation.
        defaults = {r["dataset"]: r["family"] for r in detection}
        def is_default(f):
            fam = defaults.get(f["dataset"])
            return f["perturbation"] == "corrected" and fam is not None and \
                (f["family"] == fam or (fam == "diagonal" and f["family"] == "diagonal/ggn"))
        rows = []
        for f in forecast:
            rows.append([f["dataset"], f["family"] + (" **(default)**" if is_default(f) else ""), f["perturbation"],
                         "%d x %d" % (f["points"], f["interval"]),
                         fmt(f["loo_vs_noisy_mae"]), fmt(f["loo_vs_noisy_corr"]), fmt(f["preq_vs_noisy_mae"]),
                         fmt(f["preq_vs_noisy_corr"]), fmt(f["loo_vs_clean_mae"]), fmt(f["loo_err_vs_noisy_mae"]),
                         fmt(f["end_loo"]), fmt(f["end_noisy"]), fmt(f["end_clean"]),
                         fmt(100 * f["loo_vs_noisy_mae"] / f["end_noisy"], 1) + " %", fmt(f["seconds"], 1)])
        out.append(table(["dataset", "family", "perturbation", "points x interval", "MAE vs noisy", "corr", "preq MAE vs noisy",
                          "preq corr", "MAE vs clean", "error MAE vs noisy", "LOO at end", "noisy NLL at end",
                          "clean NLL at end", "MAE / noisy end", "s"], rows))
        for dataset in sorted({f["dataset"] for f in forecast}):
            fs = [f for f in forecast if f["dataset"] == dataset]
            mine = [f for f in fs if is_default(f)]
            if not mine:
                continue
            best = min(fs, key=lambda f: f["loo_vs_noisy_mae"])
            share = 100 * mine[0]["loo_vs_noisy_mae"] / mine[0]["end_noisy"]
            out.append("\n%s: the default (%s, corrected) has MAE %s, %s %% of the held-out NLL at the end; "
                       "smallest of all rows: %s (%s, %s)." % (
                           dataset, mine[0]["family"], fmt(mine[0]["loo_vs_noisy_mae"]), fmt(share, 1),
                           "yes" if best is mine[0] or best["loo_vs_noisy_mae"] >= mine[0]["loo_vs_noisy_mae"] else "**no**",
                           best["family"], best["perturbation"]))

    if rerun:
        out.append("\n## The LOO estimate against the learner re-run without the example\n")
        out.append("10 %% uniform flips, seed 1; %d examples drawn from the final memory (window of 2048); each "
                   "re-run learns the stream without it (same order, same settings) and scores it under its final "
                   "mean. Shift = LOO NLL - in-sample NLL of the full run; ratio = mean estimated shift / mean true "
                   "shift.\n" % ARGS.rerun_sample)
        out.append(table(["dataset", "family", "examples", "in-sample NLL", "estimated LOO NLL", "re-run LOO NLL",
                          "shift ratio", "Spearman of shifts", "MAE est. vs re-run", "CPU s"],
                         [[r["dataset"], r["family"], r["n"], fmt(r["in_sample"]), fmt(r["estimate"]), fmt(r["true"]),
                           fmt(r["ratio"], 2), fmt(r["spearman"]), fmt(r["mae"]), fmt(r["seconds"], 0)] for r in rerun]))

    if drift:
        out.append("\n## Drift detection (Fashion-MNIST, change at the middle)\n")
        stationary = [d for d in drift if d["change"] is None]
        rows = []
        for series, det in DETECTORS:
            cells = ["%s on %s" % (det, series)]
            for d in drift:
                ev = [e["step"] for e in d["events"] if e["series"] == series and e["detector"] == det]
                if d["change"] is None:
                    cells.append(fmt(1e4 * len(ev) / d["n"], 1))
                else:
                    after = [s for s in ev if s > d["change"]]
                    before = [s for s in ev if s <= d["change"]]
                    cells.append("%s (%s before)" % (str(after[0] - d["change"]) if after else "missed", len(before)))
            total = sum(d["n"] for d in stationary)
            count = sum(1 for d in stationary for e in d["events"] if e["series"] == series and e["detector"] == det)
            cells.append(fmt(1e4 * count / total, 1) if total else "—")
            rows.append(cells)
        header = ["detector"] + [("%s: alarms/10k" % d["name"]) if d["change"] is None else ("%s: delay" % d["name"]) for d in drift] \
            + ["all stationary streams: alarms/10k (%d examples)" % sum(d["n"] for d in stationary)]
        out.append(table(header, rows))

    if prior:
        out.append("\n## Prior precision δ (10 % uniform flips, seed 1; default learner otherwise)\n")
        rows = [[p["dataset"], ("**%s** (default)" % fmt(p["delta"], 1)) if p["is_default"] else fmt(p["delta"], 0),
                 fmt(p["auroc"]), fmt(p["ap"]), fmt(p["test_error"]), fmt(p["test_nll"]), fmt(p["noisy_nll"]),
                 fmt(p["loo_nll"]), fmt(p["forecast_mae"])] for p in prior]
        out.append(table(["dataset", "δ", "label-quality AUROC", "AP", "clean test error", "clean test NLL", "noisy test NLL",
                          "LOO NLL at end", "forecast MAE vs noisy"], rows))

    out.append("\nTotal %.0f s." % seconds)
    return "\n".join(out) + "\n"


# Stationary streams for the false-alarm count: every detection stream (label noise at a fixed
# rate is stationary) plus the clean Fashion stream of section 3.
def stationary_from_detection(detection):
    return [{"name": "detection streams", "n": r["n"], "change": None, "events": r["drift_events"]} for r in detection]


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True, help="mpe-monitor release binary")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "quality"))
    p.add_argument("--quick", action="store_true", help="digits only, one seed")
    p.add_argument("--seeds", type=int, default=3, help="noise seeds for digits")
    p.add_argument("--fashion-seeds", type=int, default=1, help="noise seeds for Fashion-MNIST")
    p.add_argument("--fashion-limit", type=int, default=10000, help="first N Fashion-MNIST train (and test) examples")
    p.add_argument("--exact-subsample", type=int, default=300, help="digits examples refit without themselves (10 %% uniform, seed 1)")
    p.add_argument("--exact-subsample-fashion", type=int, default=20, help="Fashion examples refit without themselves, half of them flipped (seed 1, 10 %%)")
    p.add_argument("--exact-all-noises", action="store_true", help="exact refits at every digits noise level, not only 10 %%")
    p.add_argument("--all-fashion-noises", action="store_true", help="Fashion-MNIST detection at 5 %% and 20 %% too")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rerun-sample", type=int, default=24, help="memory examples re-run without themselves (section rerun)")
    p.add_argument("--sections", default="detection,forecast,drift,prior,rerun")
    ARGS = p.parse_args()
    ARGS.binary = os.path.abspath(ARGS.binary)
    os.makedirs(ARGS.out, exist_ok=True)
    sections = set(ARGS.sections.split(","))
    started = time.time()

    detection = forecast = drift = prior = rerun = []
    with ProcessPoolExecutor(max_workers=ARGS.jobs) as pool:
        # Data first, on every core (each file is written once, before any job reads it): the
        # streams every section uses, then the two derived from them.
        settings = detection_settings() if "detection" in sections else []
        data = set(settings) | {headline("digits")}
        if not ARGS.quick:
            data |= {headline("fashion-mnist"), headline("fashion-mnist", 0.0)}
        for f in [pool.submit(make_data, *s) for s in sorted(data, key=str)]:
            f.result()
        pooled = pool.submit(pooled_fashion) if ("prior" in sections and not ARGS.quick) else None
        streams = pool.submit(drift_streams) if ("drift" in sections and not ARGS.quick) else None
        if pooled:
            pooled.result()
        dstreams = streams.result() if streams else []
        fjobs = forecast_jobs() if "forecast" in sections else []
        pjobs = prior_jobs() if "prior" in sections else []
        rjobs = rerun_jobs() if "rerun" in sections else []
        # Longest jobs first so that the two cores finish together.
        det_f = [pool.submit(detection_job, s) for s in sorted(settings, key=lambda s: s[0] == "digits")]
        fc_f = [pool.submit(forecast_job, j) for j in fjobs]
        dr_f = [pool.submit(drift_job, s) for s in dstreams]
        pr_f = [pool.submit(prior_job, j) for j in pjobs]
        # Full-family re-runs last: the longest of all, they fill the cores at the end.
        rr_f = [pool.submit(rerun_job, j) for j in sorted(rjobs, key=lambda j: j[2] == "full")]
        detection = [f.result() for f in det_f]
        forecast = [f.result() for f in fc_f]
        drift = [f.result() for f in dr_f]
        prior = [f.result() for f in pr_f]
        rerun = rerun_summary([f.result() for f in rr_f]) if rr_f else []
    if drift and detection:
        drift = drift + [{"name": "noisy detection streams", "n": sum(r["n"] for r in detection), "change": None,
                          "events": [e for r in detection for e in r["drift_events"]]}]
    seconds = time.time() - started
    text = report(detection, forecast, drift, prior, seconds, rerun)
    with open(os.path.join(ARGS.out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(ARGS.out, "results.json"), "w") as f:
        json.dump({"detection": detection, "forecast": forecast, "drift": drift, "prior": prior, "rerun": rerun, "seconds": seconds},
                  f, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o), indent=1)
    print(text)


if __name__ == "__main__":
    main()
