"""`python -m bench.train_spam` (`make train-spam`): the spam model, trained on the corpus's
train split, the project's own legitimate support mail (data/offline/examples.jsonl: the
corpus is English mailing-list mail of 2002, and without it 3 in 4 support tickets scored as
likely spam) and reviewers' decisions (`--extra FILE.jsonl`); its two bars calibrated on the
corpus's calibration split; exported to data/spam/model.json. The held-out split is never
read here; bench/spam.py reports on it.

Model: L2 logistic regression (scikit-learn, lbfgs: deterministic, no seed to set) over the
features of decisions.spam: the MAX_VOCAB most frequent word features with df >= MIN_DF,
valued 1/sqrt(n) for the n a message has, and the header/link signals in [0, 1]. A signal
in SPAM_ONLY may only count towards spam (a negative one is zeroed and the model refitted).
Newsletters weigh a third of the legitimate mail (NEWSLETTER_SHARE); C is the grid value
with the lowest (so weighted) calibration log-loss. Weights are rounded to DIGITS decimals;
the rounded model is what the bars are calibrated on and what is checked against sklearn:
predict_proba with the rounded weights must match the pure-Python score within 1e-6 on
every calibration message.

Bars, on the calibration split's scores (0.001 steps, finer near 1):
  close_bar   the lowest bar at which at most 0.25 % of legitimate mail (ham and newsletters)
              and no newsletter would be closed: half the 0.5 % allowed on held-out mail,
              so that a bar tuned on one sample still holds on another; newsletters are 6 %
              of this corpus's legitimate mail, so the overall rate alone would not see them
  likely_bar  the highest bar, at most LIKELY_CAP, at which p >= bar still catches
              LIKELY_RECALL of spam; below it an item is clear
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import sklearn
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from bench.spam_data import (
    CORPUS_LICENSE,
    SUPPORT_TRAIN,
    Corpus,
    Message,
    content_key,
    load_corpus,
    load_extra,
    load_support,
)
from decisions.spam import DEFAULT_MODEL, SIGNALS, Features, SpamModel, features

MIN_DF = 3
MAX_VOCAB = 30_000
DIGITS = 4
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
# Newsletters are 6 % of this corpus's legitimate mail but a third of the real sample issue
# 13 measured the rules on; training and C selection weigh them as that third.
NEWSLETTER_SHARE = 1 / 3
# Signals that are evidence of spam or nothing. The 2002 corpus has no spam with a shortened
# link (only newsletters use them), so unconstrained, `shortener` would learn to acquit.
SPAM_ONLY = frozenset(
    "ip_url shortener userinfo_url click_here reply_to_differs high_priority undisclosed "
    "subject_caps subject_exclaim body_caps exclaim money percent".split()
)
MAX_CAL_FALSE_CLOSE = 0.0025  # half the 0.5 % the held-out split is allowed
LIKELY_RECALL = (
    0.92  # 0.98 flagged 8 of 90 legitimate support tickets (data/offline/eval, demo); 0.92: 1
)
LIKELY_CAP = 0.5  # more likely spam than not always gets a look
# 0.001 steps, then finer towards 1 where a strict bar lands on a confident model
GRID = [i / 1000 for i in range(1, 1000)] + [
    1 - 10**-k * i for k in (4, 5, 6) for i in (9, 8, 7, 6, 5, 4, 3, 2, 1)
]
CHECKS = 12  # calibration messages whose sklearn probability ships with the model
MATCH_TOLERANCE = 1e-6


def vocabulary(train: list[Features]) -> list[str]:
    df = Counter(t for f in train for t in f.tokens)
    frequent = sorted((t for t, n in df.items() if n >= MIN_DF), key=lambda t: (-df[t], t))
    return sorted(frequent[:MAX_VOCAB])


def matrix(feats: list[Features], vocab: list[str]) -> sparse.csr_matrix:
    """Rows as SpamModel.margin sees them: word columns, then SIGNALS in their order."""
    index = {t: i for i, t in enumerate(vocab)}
    names = list(SIGNALS)
    rows, cols, vals = [], [], []
    for r, f in enumerate(feats):
        hits = sorted(index[t] for t in f.tokens if t in index)
        for c in hits:
            rows.append(r), cols.append(c), vals.append(1.0 / math.sqrt(len(hits)))
        for j, name in enumerate(names):
            if x := f.signals.get(name, 0.0):
                rows.append(r), cols.append(len(vocab) + j), vals.append(x)
    shape = (len(feats), len(vocab) + len(names))
    return sparse.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)


def fit(x: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, c: float) -> LogisticRegression:
    """An L2 logistic regression in which no SPAM_ONLY signal counts against spam: one that
    comes out negative is zeroed and the model refitted without it."""
    mask = np.ones(x.shape[1])
    first = x.shape[1] - len(SIGNALS)
    cols = [first + j for j, name in enumerate(SIGNALS) if name in SPAM_ONLY]
    while True:
        clf = LogisticRegression(C=c, solver="lbfgs", max_iter=10_000, tol=1e-8)
        clf.fit(x @ sparse.diags(mask), y, sample_weight=w)
        negative = [j for j in cols if clf.coef_[0][j] < 0]
        if not negative:
            return clf
        mask[negative] = 0.0


def weights(messages: list[Message]) -> np.ndarray:
    """1 for spam and ordinary mail; newsletters scaled up to NEWSLETTER_SHARE of the legit."""
    kinds = Counter(m.kind for m in messages)
    news = (
        kinds["newsletter"]
        and NEWSLETTER_SHARE / (1 - NEWSLETTER_SHARE) * kinds["ham"] / kinds["newsletter"]
    )
    return np.array([news if m.kind == "newsletter" else 1.0 for m in messages])


def bars(p_legit: list[float], p_news: list[float], p_spam: list[float]) -> tuple[float, float]:
    allowed = math.floor(MAX_CAL_FALSE_CLOSE * len(p_legit))
    close = next(
        (
            t
            for t in GRID
            if sum(p >= t for p in p_legit) <= allowed and not any(p >= t for p in p_news)
        ),
        1.0,
    )
    recall = [(t, sum(p >= t for p in p_spam) / len(p_spam)) for t in GRID if t <= close]
    likely = max((t for t, r in recall if r >= LIKELY_RECALL), default=GRID[0])
    return close, min(likely, LIKELY_CAP, close)


def usable_extra(corpus: Corpus, extra: list[Message]) -> list[Message]:
    """Reviewers' items, less any copy of a calibration or held-out message (it would leak)."""
    held = {m.key for m in corpus.messages if m.split != "train"}
    # and by the text the model scores (a reviewer's copy is of that text, not the raw one)
    held |= {content_key(m.subject, m.body) for m in corpus.messages if m.split != "train"}
    return [m for m in extra if m.key not in held]


def train(
    corpus: Corpus, extra: list[Message], today: str, support: list[Message] = ()
) -> tuple[dict, dict]:
    """The model file's content and the calibration figures the command prints."""
    kept_extra = usable_extra(corpus, extra)
    train_msgs = corpus.split("train") + list(support) + kept_extra
    cal_msgs = corpus.split("calibration")
    f_train = [features(m.subject, m.body, m.sender, m.headers) for m in train_msgs]
    f_cal = [features(m.subject, m.body, m.sender, m.headers) for m in cal_msgs]
    vocab = vocabulary(f_train)
    x_train, x_cal = matrix(f_train, vocab), matrix(f_cal, vocab)
    y_train = np.array([m.label == "spam" for m in train_msgs], dtype=int)
    y_cal = np.array([m.label == "spam" for m in cal_msgs], dtype=int)
    w_train, w_cal = weights(train_msgs), weights(cal_msgs)
    losses = {
        c: log_loss(
            y_cal, fit(x_train, y_train, w_train, c).predict_proba(x_cal)[:, 1], sample_weight=w_cal
        )
        for c in C_GRID
    }
    best_c = min(C_GRID, key=lambda c: (losses[c], c))
    clf = fit(x_train, y_train, w_train, best_c)
    w = np.round(clf.coef_[0], DIGITS)
    b = round(float(clf.intercept_[0]), DIGITS)
    clf.coef_, clf.intercept_ = w.reshape(1, -1), np.array([b])  # sklearn now IS the export
    spec = {
        "version": "",
        "intercept": b,
        "close_bar": 1.0,
        "likely_bar": 1.0,
        "signals": {n: float(w[len(vocab) + j]) for j, n in enumerate(SIGNALS)},
        "tokens": {t: float(w[i]) for i, t in enumerate(vocab)},
    }
    model = SpamModel(spec)
    p_cal = [model.probability(f) for f in f_cal]
    p_sk = clf.predict_proba(x_cal)[:, 1]
    gap = float(np.max(np.abs(np.array(p_cal) - p_sk)))
    if gap > MATCH_TOLERANCE:
        raise AssertionError(f"pure-Python score differs from sklearn by {gap:.2e}")
    by_kind = {
        k: [p for p, m in zip(p_cal, cal_msgs, strict=True) if m.kind == k]
        for k in ("ham", "newsletter", "spam")
    }
    legit = by_kind["ham"] + by_kind["newsletter"]
    close_bar, likely_bar = bars(legit, by_kind["newsletter"], by_kind["spam"])
    digest = hashlib.sha256(
        json.dumps([b, spec["signals"], spec["tokens"], close_bar, likely_bar]).encode()
    ).hexdigest()
    step = max(1, len(cal_msgs) // CHECKS)
    spec |= {
        "version": f"spam-lr-{digest[:10]}",
        "close_bar": close_bar,
        "likely_bar": likely_bar,
        "meta": {
            "trained_on": today,
            "data": corpus.source,
            "data_license": CORPUS_LICENSE,
            "split": "sha256 of content key mod 100: train <50, calibration <75, held-out",
            "sizes": corpus.sizes(),
            "dropped_duplicates": corpus.dropped_duplicates,
            "support_train": len(support),
            "extra_train": {"given": len(extra), "used": len(kept_extra)},
            "trainer": (
                f"scikit-learn {sklearn.__version__} LogisticRegression lbfgs C={best_c}, "
                f"newsletters weighted {w_train.max():.2f}"
            ),
            "vocabulary": len(vocab),
            "bar_method": (
                f"close: lowest 0.001 step with <= {MAX_CAL_FALSE_CLOSE:.2%} of calibration "
                f"legit mail and no newsletter at or above it; likely: highest step <= "
                f"{LIKELY_CAP} keeping {LIKELY_RECALL:.0%} calibration spam recall"
            ),
            "checks": [
                {"id": cal_msgs[i].id, "p_sklearn": float(p_sk[i])}
                for i in range(0, step * CHECKS, step)
            ],
        },
    }
    report = {
        "c": best_c,
        "log_loss": {str(c): round(v, 4) for c, v in losses.items()},
        "sklearn_gap": gap,
        "calibration": {
            "legit": len(legit),
            "spam": len(by_kind["spam"]),
            "legit_closed": sum(p >= close_bar for p in legit),
            "spam_closed": sum(p >= close_bar for p in by_kind["spam"]),
            "spam_flagged": sum(p >= likely_bar for p in by_kind["spam"]),
            "legit_flagged": sum(p >= likely_bar for p in legit),
        },
    }
    return spec, report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.train_spam", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--extra", type=Path, action="append", default=[], help="reviewers' items (JSONL)"
    )
    p.add_argument("--support", type=Path, action="append", help=f"default: {SUPPORT_TRAIN}")
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    extra = [m for path in args.extra for m in load_extra(path)]
    support = [m for path in args.support or [SUPPORT_TRAIN] for m in load_support(path, "train")]
    spec, report = train(load_corpus(), extra, datetime.date.today().isoformat(), support)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(spec, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    meta = spec["meta"]
    print(f"data: {meta['data']}  splits: {json.dumps(meta['sizes'])}")
    print(
        f"support mail: {meta['support_train']}  extra: {meta['extra_train']}  "
        f"vocabulary: {meta['vocabulary']}  {meta['trainer']}"
    )
    print(
        f"calibration log-loss by C: {report['log_loss']}  sklearn gap: {report['sklearn_gap']:.1e}"
    )
    print(f"calibration at the bars: {report['calibration']}")
    size = args.out.stat().st_size
    print(
        f"wrote {args.out} ({size / 1e6:.2f} MB) version={spec['version']} "
        f"close_bar={spec['close_bar']} likely_bar={spec['likely_bar']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
