"""bench/ladder.py on a tiny workload, on the real dev server with aiflow's real workers:
the summary line's format, and facts checked against the runs themselves (read back from
Temporal, not from the harness's figures) and against the workload's ground truth."""

from __future__ import annotations

import re

from bench import ladder
from bench.ladder_workload import generate, leaked
from contracts import StepKind, Ticket, TriageResult
from decisions.rules import evaluate_rules
from settings import Settings
from workflows.intake import validate_ticket

SEED, WARMUP, HELDOUT = 7, 40, 20
# The semantic threshold, pinned so a recalibration of data/cache/threshold.json does not
# move this test, and low: a 40-item warm-up leaves ~15 reviewed answers, none of them
# within the calibrated 0.82 of a held-out question (seed 7: 0.812 at best). At 0.7 three
# held-out steps are served, so the entity guard and QA re-check work on loose matches too:
# nothing leaks all the same.
MIN_SIMILARITY = 0.7
LAST_LINE = re.compile(
    r"ladder: share_without_large=(\d+\.\d) accuracy_delta=([+-]\d+\.\d) "
    r"wrong_auto=(\d+) leaked=(\d+) cost_ratio=(\d+\.\d{3}|nan)"
)


def closed_by_rules(items) -> int:
    """Held-out items a rule closes before any model step (computed from the workload)."""
    from activities.pipeline import load_rules

    rules = load_rules(Settings(_env_file=None).rules_path)
    n = 0
    for item in items:
        ticket, _ = validate_ticket(Ticket.model_validate(item.ticket), 20_000)
        n += ticket is not None and evaluate_rules(rules, ticket).close is not None
    return n


async def results(client, workflow_ids) -> list[TriageResult]:
    return [
        await client.get_workflow_handle(w, result_type=TriageResult).result() for w in workflow_ids
    ]


async def test_the_ladder_benchmark_on_a_tiny_workload(env, capsys):
    argv = ["--seed", str(SEED), "--warmup", str(WARMUP), "--heldout", str(HELDOUT)]
    report = await ladder.amain([*argv, "--min-similarity", str(MIN_SIMILARITY)], env.client)
    out = capsys.readouterr().out.strip().splitlines()

    assert out[-1] == report["last"]
    m = LAST_LINE.fullmatch(out[-1])
    assert m, out[-1]
    assert int(m.group(4)) == 0  # leaked

    workload = generate(SEED, WARMUP, HELDOUT)
    truth = {f"ticket-{i.ticket['ticket_id']}": i for i in workload.heldout}
    by_config = {}
    for name in ("ladder", "baseline"):
        ids = report[name]["workflow_ids"]
        assert len(ids) == HELDOUT == report[name]["items"]
        # each held-out item ran once in each configuration, under its own id
        assert sorted(w.rsplit(".", 1)[0] for w in ids) == sorted(truth)
        by_config[name] = await results(env.client, ids)
    assert report["warmup"]["items"] == WARMUP

    # the baseline has no cache and no small tier: only a rule can spare it the large model
    expected = 100 * closed_by_rules(workload.heldout) / HELDOUT
    base_share = 100 * report["baseline"]["without_large"] / HELDOUT
    assert round(base_share, 1) == round(expected, 1)
    for r in by_config["baseline"]:
        assert not [s for s in r.steps if s.kind == StepKind.CACHE]
        small = [
            s.model for s in r.steps if s.kind == StepKind.MODEL and s.model in ladder.SMALL_MODELS
        ]
        assert small == []

    # no reply either configuration sent carries another customer's values
    for name, rs in by_config.items():
        for r in rs:
            item = truth[r.workflow_id.rsplit(".", 1)[0]]
            assert leaked(r.reply or "", item, workload) == [], (name, r.workflow_id)

    # the ladder served at least one held-out step from its cache (a reviewer's answer
    # from the warm-up, or from an earlier held-out item)
    hits = [
        (r.workflow_id, s.step, s.outcome)
        for r in by_config["ladder"]
        for s in r.steps
        if s.kind == StepKind.CACHE and s.outcome.startswith("hit:")
    ]
    assert hits, report["ladder"]["cache_outcomes"]
    assert len(hits) == report["ladder"]["hits"]
    # and the summary's share is what the runs' own step records say
    ladder_share = 100 * report["ladder"]["without_large"] / HELDOUT
    assert m.group(1) == f"{ladder_share:.1f}"
    spared = sum(
        not any(
            s.kind == StepKind.MODEL and s.outcome == "ok" and s.model not in ladder.SMALL_MODELS
            for s in r.steps
        )
        for r in by_config["ladder"]
    )
    assert spared == report["ladder"]["without_large"]
