"""The run budget: worst-case reservation before a call, settlement after; the cap holds
however many calls are in flight at once."""

from __future__ import annotations

import random

from contracts import ModelTarget
from workflows.model_step import (
    PROMPT_OVERHEAD_TOKENS,
    TRUNCATION_MARK,
    RunBudget,
    input_tokens_estimate,
    truncate_to_fit,
)

TARGET = ModelTarget(
    alias="a",
    provider="openai",
    model="m",
    queue="q",
    context_window=1000,
    max_output_tokens=500,
    input_per_mtok=2.0,
    output_per_mtok=8.0,
)


def test_worst_case_counts_prompt_overhead_variables_and_max_output():
    variables = {"body": "x" * 3000, "subject": "y" * 300}
    tokens_in = PROMPT_OVERHEAD_TOKENS + 3300 // 3 + 1
    assert RunBudget.worst_case(TARGET, variables, 500) == (tokens_in * 2.0 + 500 * 8.0) / 1e6


def test_reservations_in_flight_never_exceed_the_cap():
    budget = RunBudget(cap_usd=0.01)
    assert [budget.reserve(0.003) for _ in range(4)] == [True, True, True, False]
    budget.settle(0.003, 0.001)  # a call finished cheaper than its worst case
    assert budget.reserve(0.003) is True
    assert round(budget.spent_usd + budget.reserved_usd, 12) == 0.01


def test_random_interleavings_keep_spent_plus_reserved_within_cap():
    rng = random.Random(7)
    budget, in_flight = RunBudget(cap_usd=0.05), []
    for _ in range(2000):
        if in_flight and rng.random() < 0.5:
            worst = in_flight.pop(rng.randrange(len(in_flight)))
            budget.settle(worst, worst * rng.random())
        else:
            worst = rng.uniform(0.0005, 0.01)
            if budget.reserve(worst):
                in_flight.append(worst)
        assert budget.spent_usd + budget.reserved_usd <= 0.05 + 1e-12
    assert budget.spent_usd > 0.04  # the cap was actually reached, not trivially avoided


def test_no_cap_means_no_limit():
    budget = RunBudget(cap_usd=None)
    assert all(budget.reserve(1.0) for _ in range(100))


def test_past_the_degrade_ratio_the_cheapest_model_goes_first():
    cheap = TARGET.model_copy(
        update={"model": "cheap", "input_per_mtok": 0.1, "output_per_mtok": 0.4}
    )
    budget = RunBudget(cap_usd=0.01, degrade_ratio=0.8)
    assert [t.model for t in budget.order([TARGET, cheap])] == ["m", "cheap"]
    budget.reserve(0.008)
    budget.settle(0.008, 0.008)
    assert budget.degraded is True
    assert [t.model for t in budget.order([TARGET, cheap])] == ["cheap", "m"]


def test_truncation_cuts_the_longest_text_so_the_widest_window_fits():
    small = TARGET.model_copy(update={"context_window": 1000, "max_output_tokens": 200})
    wider = TARGET.model_copy(update={"model": "w", "context_window": 1500})
    variables = {"subject": "s" * 30, "body": "b" * 9000, "attempt": 1}
    cut_vars, cut = truncate_to_fit(variables, [small, wider], 200)
    assert input_tokens_estimate(cut_vars) <= 1500 - 200
    assert cut_vars["subject"] == "s" * 30
    assert cut_vars["body"].startswith("b" * 100) and cut_vars["body"].endswith(TRUNCATION_MARK)
    assert cut == {
        "variable": "body",
        "from_chars": 9000,
        "to_chars": len(cut_vars["body"]) - len(TRUNCATION_MARK),
        "context_window": 1500,
        "model": "w",
    }
    assert truncate_to_fit({"body": "short"}, [small], 200) == ({"body": "short"}, None)
