"""Spam detection in the triage workflow, on a real dev server with aiflow's real workers
and the shipped model (data/spam/model.json): only the model closes unseen, above its
calibrated bar; a spam rule alone or a score between the bars opens the cheap likely-spam
review; "spam" closes, "approve" (not spam) sends the ticket on, an expired SLA too; the
decisions come back out as labelled examples."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from activities.store import Store
from contracts import Outcome, ReviewAction, ReviewDecision, TriageResult
from decisions.spam import SpamModel
from starter import feedback, reviews
from starter.review_web import create_app
from tests.conftest import make_settings, running_worker
from tests.test_review_web import Form, logged_in, web_settings
from tests.test_triage_workflow import start, ticket, wait_for_review
from workflows.triage import TriageWorkflow

PHISH = {
    "subject": "URGENT: Your account has been suspended!!!",
    "body": "Dear customer, your account is suspended. CLICK HERE to verify now: "
    "http://192.168.4.7/login and claim your $1000 reward!!! 100% free money, act now!!!",
    "customer_email": "win@prize-4421.biz",
}
PROMO = {  # between the bars: a person looks
    "subject": "Cheap meds online, 80% off!!!",
    "body": "Buy cheap viagra and cialis online without prescription!!! Best prices, 80% "
    "discount, free shipping. Visit http://bit.ly/xyz now and save $$$!",
    "customer_email": "sales@pharma-deals.ru",
}
NEWSLETTER = {  # solicited bulk mail that a spam rule ("click here" + a link) matches
    "subject": "Our December newsletter: new features",
    "body": "Hi there, here is what is new this month: faster exports, a new dashboard and "
    "two webinars. Click here to read more: https://news.example.com/dec. You receive "
    "this because you subscribed.",
    "customer_email": "news@example.com",
    "customer_tier": "vip",  # rule vip-enterprise: reviewed once it is not spam
    "metadata": {"list_unsubscribe": "yes", "precedence": "bulk"},
}


def lane(raw: dict) -> str:
    headers = {"list-unsubscribe": "yes", "precedence": "bulk"} if "metadata" in raw else {}
    return SpamModel.load().score(raw["subject"], raw["body"], raw["customer_email"], headers).lane


@pytest.fixture
def spam_settings(tmp_path):
    return make_settings(tmp_path, spam_detection=True)


def steps(result: TriageResult, step: str) -> list[tuple[str, str]]:
    return [(s.kind, s.outcome) for s in result.steps if s.step == step]


async def decide(handle, action: ReviewAction, **fields):
    await wait_for_review(handle)
    d = ReviewDecision(action=action, reviewer="ana@example.com", **fields)
    return await handle.execute_update(TriageWorkflow.submit_review, d)


def test_the_crafted_messages_land_in_the_lanes_the_tests_rely_on():
    assert [lane(m) for m in (PHISH, PROMO, NEWSLETTER)] == ["close", "likely_spam", "clear"]


async def test_the_model_closes_clear_spam_without_a_model_call(env, spam_settings):
    async with running_worker(env.client, spam_settings):
        result = await (await start(env.client, spam_settings, ticket(**PHISH))).result()
    assert (result.outcome, result.route, result.model_calls) == (Outcome.CLOSED, "spam", 0)
    p = SpamModel.load().score(PHISH["subject"], PHISH["body"], PHISH["customer_email"]).p_spam
    assert result.reasons == [f"spam_model:{p:.4f}", "rule:spam-click-link"]
    assert steps(result, "spam") == [("code", "close")]
    spam = next(s for s in result.steps if s.step == "spam")
    assert spam.details["close_bar"] == SpamModel.load().close_bar
    assert spam.details["model_version"] == SpamModel.load().version


async def test_a_spam_rule_alone_opens_the_spam_lane_and_not_spam_sends_it_on(
    env, spam_settings, tmp_path
):
    async with running_worker(env.client, spam_settings):
        handle = await start(env.client, spam_settings, ticket(**NEWSLETTER))
        await wait_for_review(handle)
        first = await handle.query(TriageWorkflow.pending_review)
        with pytest.raises(reviews.ReviewRefused, match="^a likely-spam review takes spam"):
            await reviews.decide_run(
                env.client,
                handle.id,
                ReviewDecision(action=ReviewAction.EDIT, reviewer="ana", reply="Hello"),
            )
        await decide(handle, ReviewAction.APPROVE)  # not spam
        second = None
        for _ in range(100):  # the run goes on through the pipeline to its VIP review
            second = await handle.query(TriageWorkflow.pending_review)
            if second is not None and second.review_id != first.review_id:
                break
            await asyncio.sleep(0.1)
        await decide(handle, ReviewAction.APPROVE)
        result = await handle.result()
    assert (first.queue, first.reasons) == ("spam-review", ["likely_spam", "rule:spam-click-link"])
    assert (first.proposal.category, first.proposal.reply, first.confidence) == (None, None, None)
    assert second is not None and second.queue == "priority"
    assert second.reasons == ["rule:vip-enterprise", "low_confidence"]
    assert result.outcome == Outcome.APPROVED and result.model_calls == 2
    assert steps(result, "spam") == [("code", "clear")]
    assert [s.outcome for s in result.steps if s.step == "review"] == ["approve", "approve"]
    store = Store(spam_settings.store_url)
    try:
        decided = {(c.review_id, c.action) for c in store.corrections()}
    finally:
        store.close()
    assert decided == {(first.review_id, "approve"), (second.review_id, "approve")}


async def test_a_reviewer_closes_likely_spam_and_it_becomes_a_spam_example(
    env, spam_settings, tmp_path
):
    async with running_worker(env.client, spam_settings):
        handle = await start(env.client, spam_settings, ticket(**PROMO))
        receipt = await decide(handle, ReviewAction.SPAM)
        result = await handle.result()
    assert receipt.final is None
    assert (result.outcome, result.route, result.model_calls) == (Outcome.CLOSED, "spam", 0)
    assert result.reasons == ["likely_spam", "reviewer:spam"]
    assert feedback.main(["export", "--out", str(tmp_path / "fb")], settings=spam_settings) == 0
    [example] = [json.loads(line) for line in (tmp_path / "fb" / "spam.jsonl").open()]
    assert {k: example[k] for k in ("subject", "sender", "headers", "label")} == {
        "subject": PROMO["subject"],
        "sender": PROMO["customer_email"],
        "headers": {},
        "label": "spam",
    }


async def test_an_expired_spam_review_sends_the_ticket_on(env, tmp_path):
    s = make_settings(
        tmp_path, spam_detection=True, review_sla_seconds=1, review_escalation_sla_seconds=1
    )
    async with running_worker(env.client, s):
        result = await (await start(env.client, s, ticket(**PROMO))).result()
    assert steps(result, "spam") == [("code", "likely_spam"), ("code", "review_expired:triage")]
    assert result.outcome != Outcome.CLOSED
    assert result.model_calls >= 2  # classified and drafted after the lane gave up


async def test_spam_detection_off_keeps_the_rules_alone(env, settings):
    async with running_worker(env.client, settings):
        result = await (await start(env.client, settings, ticket(**NEWSLETTER))).result()
    assert (result.outcome, result.reasons) == (Outcome.CLOSED, ["rule:spam-click-link"])
    assert steps(result, "spam") == []


async def test_the_review_page_offers_spam_or_not_spam_in_the_lane(env, spam_settings):
    s = web_settings(spam_settings)
    app = create_app(env.client, s)
    raw = ticket(**PROMO)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle = await start(env.client, s, raw)
        await wait_for_review(handle)
        page = await http.get(f"/review/{raw['ticket_id']}")
        form = Form(page.text).values
        done = await http.post(f"/review/{raw['ticket_id']}", data=form | {"action": "spam"})
        result = await handle.result()
    buttons = re.findall(r'<button type="submit" name="action" value="(\w+)"', page.text)
    assert buttons == ["spam", "approve", "reject", "reassign", "escalate"]
    assert "Not spam: triage it" in page.text and 'name="category"' not in page.text
    assert '<h1 class="ok">Closed as spam</h1>' in done.text
    assert (result.outcome, result.route) == (Outcome.CLOSED, "spam")
