"""`python -m bench.spam` (`make bench-spam`): the shipped spam model (data/spam/model.json)
on the corpus's HELD-OUT split only (bench/spam_data.py), beside today's keyword rules
(data/rules/triage-v1.json through decisions.rules) on the same messages.

Closing means p_spam >= close_bar (model) or a matching close rule with outcome "spam"
(rules). Precision and recall are those of closing; the legitimate mail's false-close rate
is given overall and for ordinary mail and newsletters apart. "model + rules" is the model's
lanes with a rule's spam match lifting a clear item into the likely-spam lane
(`lane_with_rules`): a rule alone never closes. Last, the lanes of the project's own support
mail that the model never trained on (data/offline/eval.jsonl, data/tickets/demo.jsonl):
the corpus is English mailing-list mail of 2002, this is closer to what production sees.
The last line is the summary:

  spam: precision=<x> recall=<y> legit_false_close=<percent> likely_lane=<percent> heldout=<n>
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.spam_data import CORPUS_DIR, SUPPORT_EVAL, Message, kinds, load_corpus, load_support
from contracts import NormalizedTicket, RuleSet
from decisions.rules import evaluate_rules
from decisions.spam import (
    DEFAULT_MODEL,
    LANE_CLEAR,
    LANE_CLOSE,
    LANE_LIKELY,
    SpamModel,
    SpamScore,
    lane_with_rules,
)

RULES = Path(__file__).resolve().parents[1] / "data" / "rules" / "triage-v1.json"


@dataclass(frozen=True)
class Scored:
    message: Message
    score: SpamScore
    rule_spam: bool
    micros: float

    @property
    def p_spam(self) -> float:
        return self.score.p_spam

    @property
    def lane(self) -> str:
        return self.score.lane


def score_all(model: SpamModel, messages: list[Message], rules: RuleSet) -> list[Scored]:
    out = []
    for m in messages:
        t0 = time.perf_counter_ns()
        s = model.score(m.subject, m.body, m.sender, m.headers)
        micros = (time.perf_counter_ns() - t0) / 1000
        out.append(Scored(m, s, rule_closes_as_spam(rules, m), micros))
    return out


def rule_closes_as_spam(rules: RuleSet, m: Message) -> bool:
    ticket = NormalizedTicket(
        ticket_id=m.id,
        subject=m.subject,
        body=m.body,
        customer_email=m.sender or "unknown@example.invalid",
        channel="email",
        customer_tier="free",
    )
    close = evaluate_rules(rules, ticket).close
    return close is not None and close.action.outcome_reason == "spam"


def closing(scored: list[Scored], closed: list[bool]) -> dict:
    """Precision/recall of closing and the legit false-close counts, overall and by kind."""
    spam = [c for s, c in zip(scored, closed, strict=True) if s.message.label == "spam"]
    legit = {
        k: [c for s, c in zip(scored, closed, strict=True) if s.message.kind == k]
        for k in ("ham", "newsletter")
    }
    tp, fp = sum(spam), sum(legit["ham"]) + sum(legit["newsletter"])
    n_legit = len(legit["ham"]) + len(legit["newsletter"])
    return {
        "closed": tp + fp,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / len(spam) if spam else 0.0,
        "legit_closed": fp,
        "legit": n_legit,
        "legit_false_close": fp / n_legit if n_legit else 0.0,
        "ham_closed": sum(legit["ham"]),
        "ham": len(legit["ham"]),
        "newsletters_closed": sum(legit["newsletter"]),
        "newsletters": len(legit["newsletter"]),
    }


def evaluate(model: SpamModel, messages: list[Message], rules: RuleSet) -> dict:
    scored = score_all(model, messages, rules)
    lanes = [s.lane for s in scored]
    combined = [lane_with_rules(s.score, s.rule_spam) for s in scored]
    n = len(scored)
    spam = [s for s in scored if s.message.label == "spam"]
    legit = [s for s in scored if s.message.label == "ham"]
    micros = sorted(s.micros for s in scored)
    return {
        "n": n,
        "kinds": kinds(messages),
        "model": closing(scored, [x == LANE_CLOSE for x in lanes]),
        "rules": closing(scored, [s.rule_spam for s in scored]),
        "lanes": {lane: lanes.count(lane) for lane in (LANE_CLOSE, LANE_LIKELY, LANE_CLEAR)},
        "combined_lanes": {x: combined.count(x) for x in (LANE_CLOSE, LANE_LIKELY, LANE_CLEAR)},
        "spam_flagged": sum(s.lane != LANE_CLEAR for s in spam),
        "spam_flagged_combined": sum(
            c != LANE_CLEAR
            for s, c in zip(scored, combined, strict=True)
            if s.message.label == "spam"
        ),
        "legit_likely": sum(s.lane == LANE_LIKELY for s in legit),
        "newsletters_likely": sum(
            s.lane == LANE_LIKELY for s in legit if s.message.kind == "newsletter"
        ),
        "auc": auc([s.p_spam for s in spam], [s.p_spam for s in legit]),
        "p50_us": statistics.median(micros),
        "p99_us": micros[min(n - 1, int(0.99 * n))],
        "per_s": n / (sum(micros) / 1e6),
    }


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a spam scores above a legitimate message (ties count half)."""
    ranked = sorted([(p, 1) for p in pos] + [(p, 0) for p in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(label for _, label in ranked[i:j])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def support(model: SpamModel, rules: RuleSet) -> dict:
    """Lanes of the project's support mail, legitimate and spam, by the model and with rules."""
    scored = score_all(model, [m for p in SUPPORT_EVAL for m in load_support(p, "support")], rules)
    out = {}
    for label in ("ham", "spam"):
        group = [s for s in scored if s.message.label == label]
        out[label] = {
            "n": len(group),
            "model": dict(Counter(s.lane for s in group)),
            "with_rules": dict(Counter(lane_with_rules(s.score, s.rule_spam) for s in group)),
        }
    return out


def heldout(
    corpus_dir: Path = CORPUS_DIR, model_path: Path = DEFAULT_MODEL
) -> tuple[SpamModel, dict]:
    model = SpamModel.load(model_path)
    rules = RuleSet.model_validate_json(RULES.read_text())
    result = evaluate(model, load_corpus(corpus_dir).split("heldout"), rules)
    return model, result | {"support": support(model, rules)}


def _lanes(counts: dict) -> str:
    return " ".join(
        f"{lane} {counts.get(lane, 0)}" for lane in (LANE_CLOSE, LANE_LIKELY, LANE_CLEAR)
    )


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def report(model: SpamModel, r: dict) -> list[str]:
    n, spam_n = r["n"], r["kinds"].get("spam", 0)
    lines = [
        f"held-out: {n} messages {r['kinds']}  model {model.version} "
        f"close_bar={model.close_bar} likely_bar={model.likely_bar}",
    ]
    for name in ("model", "rules"):
        c = r[name]
        lines.append(
            f"{name:6s} close: {c['closed']:4d}  precision={c['precision']:.3f} "
            f"recall={c['recall']:.3f}  legit closed {c['legit_closed']}/{c['legit']} "
            f"({_pct(c['legit_false_close'])}): ordinary {c['ham_closed']}/{c['ham']}, "
            f"newsletters {c['newsletters_closed']}/{c['newsletters']}"
        )
    lines += [
        f"model lanes: {_shares(r['lanes'], n)};  spam closed or flagged "
        f"{r['spam_flagged']}/{spam_n}; legit in likely_spam {r['legit_likely']}/"
        f"{r['model']['legit']} (newsletters {r['newsletters_likely']}/"
        f"{r['model']['newsletters']})",
        f"model + rules lanes: {_shares(r['combined_lanes'], n)};  spam closed or flagged "
        f"{r['spam_flagged_combined']}/{spam_n}",
    ]
    for label, name in (("ham", "legitimate"), ("spam", "spam")):
        v = r["support"][label]
        lines.append(
            f"support mail, {name} ({v['n']}): model {_lanes(v['model'])};  "
            f"with rules {_lanes(v['with_rules'])}"
        )
    lines += [
        f"AUC={r['auc']:.4f}  speed: {r['per_s']:.0f} messages/s, p50 {r['p50_us']:.0f} us, "
        f"p99 {r['p99_us']:.0f} us (one core, pure Python)",
        f"spam: precision={r['model']['precision']:.3f} recall={r['model']['recall']:.3f} "
        f"legit_false_close={_pct(r['model']['legit_false_close'])} "
        f"likely_lane={_pct(r['lanes'][LANE_LIKELY] / n)} heldout={n}",
    ]
    return lines


def _shares(counts: dict, n: int) -> str:
    return "  ".join(
        f"{lane} {_pct(counts[lane] / n)}" for lane in (LANE_CLOSE, LANE_LIKELY, LANE_CLEAR)
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.spam", description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    model, r = heldout(args.corpus, args.model)
    print("\n".join(report(model, r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
