"""NumPy check of the forecast calibration (Sources/OnlineMPE/ForecastCalibration.swift).

Replicates the diagonal GGN learner (softmax, bias feature, gamma = 1, delta = max(1, D^2/1000))
over a JSON Lines stream, then, for examples of the final window memory:
  * diagonal: the corrected diagonal LOO shift f~ - f that re-scoring computes;
  * followed: the removal followed through the later window examples' updates, with Lambda at
    the final mean and the final precision (what the Swift learner samples);
  * re-run: the learner run again over the whole stream without the example (the truth the
    estimates aim at), for --rerun examples drawn at random from the window.
It prints the shift sizes against the re-run's, the per-example LOO NLL error against the
re-run, and the mean LOO NLL over the whole window (followed for every example: slow, about a
minute at d = 784) against the held-out NLL under the final mean.

  .venv-quality/bin/python bench/quality/follow_removals.py --train out/quality/.../train.jsonl \
      --test out/quality/.../test-noisy.jsonl [--memory 2048] [--rerun 16]
"""
import argparse
import json

import numpy as np


def load(path, limit=None):
    xs, ys = [], []
    with open(path) as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            o = json.loads(line)
            xs.append(o["x"])
            ys.append(o["y"])
    x = np.array(xs, dtype=float)
    return np.hstack([x, np.ones((len(x), 1))]), np.array(ys, dtype=int)


def softmax(f):
    z = np.exp(f - f.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def nll(f, y):
    p = softmax(f)
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-10, 1))


def learn(x, y, k, delta, skip=None):
    m = np.zeros((k, x.shape[1]))
    s = np.full((k, x.shape[1]), delta)
    for t in range(len(y)):
        if t == skip:
            continue
        p = softmax(m @ x[t])
        e = p.copy()
        e[y[t]] -= 1
        s += (p * (1 - p))[:, None] * (x[t] * x[t])[None, :]
        m -= (e[:, None] * x[t][None, :]) / s
    return m, s


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--train", required=True)
    a.add_argument("--test", required=True)
    a.add_argument("--memory", type=int, default=2048)
    a.add_argument("--rerun", type=int, default=16)
    a.add_argument("--seed", type=int, default=0)
    args = a.parse_args()
    x, y = load(args.train)
    xt, yt = load(args.test)
    n, d = x.shape
    k = int(y.max()) + 1
    delta = max(1.0, d * d / 1000.0)
    m, s = learn(x, y, k, delta)
    v = 1 / s
    mem = np.arange(max(0, n - args.memory), n)
    f = x[mem] @ m.T
    p = softmax(f)
    e = p.copy()
    e[np.arange(len(mem)), y[mem]] -= 1
    lam = p * (1 - p)
    x2 = x[mem] ** 2
    s_without = np.maximum(s[None] - lam[:, :, None] * x2[:, None, :], delta)
    diagonal = e * (x2[:, None, :] / s_without).sum(-1)
    # Every window example's removal, followed through the later ones at once.
    deltas = (e[:, :, None] * x[mem][:, None, :]) / s_without
    for b in range(1, len(mem)):
        xb, pb = x[mem[b]], p[b]
        u = deltas[:b] @ xb
        pull = pb[None, :] * (u - (u @ pb)[:, None])
        deltas[:b] -= pull[:, :, None] * (xb[None, None, :] * v[None])
    followed = np.einsum("akd,ad->ak", deltas, x[mem])
    print("held-out NLL %.4f; window mean NLL in-sample %.4f, diagonal LOO %.4f, followed LOO %.4f"
          % (nll(xt @ m.T, yt).mean(), nll(f, y[mem]).mean(), nll(f + diagonal, y[mem]).mean(),
             nll(f + followed, y[mem]).mean()))
    rng = np.random.default_rng(args.seed)
    rows = []
    for j in sorted(rng.choice(len(mem), min(args.rerun, len(mem)), replace=False)):
        mi, _ = learn(x, y, k, delta, skip=mem[j])
        truth = mi @ x[mem[j]] - f[j]
        target = nll((f[j] + truth)[None], y[mem[j]:mem[j] + 1])[0]
        rows.append((np.abs(diagonal[j]).sum(), np.abs(followed[j]).sum(), np.abs(truth).sum(),
                     abs(nll((f[j] + diagonal[j])[None], y[mem[j]:mem[j] + 1])[0] - target),
                     abs(nll((f[j] + followed[j])[None], y[mem[j]:mem[j] + 1])[0] - target)))
    r = np.array(rows)
    print("%d re-runs: |diagonal| / |re-run| %.2f, |followed| / |re-run| %.2f; LOO NLL error against the re-run: "
          "diagonal %.4f, followed %.4f" % (len(r), r[:, 0].sum() / r[:, 2].sum(), r[:, 1].sum() / r[:, 2].sum(),
                                             r[:, 3].mean(), r[:, 4].mean()))


if __name__ == "__main__":
    main()
