"""README "Write your own workflow": its example (examples/product_reviews) added to a
deployment by AIFLOW_WORKFLOW_MODULES alone, run through `aiflow run` on a real Temporal
server with the offline model, reviewed through the generic `review_fields` update, and
shown in the README exactly as it is in the repository."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.store import Store
from contracts.items import FieldAction, FieldDecision
from starter import feedback as feedback_cmd
from starter import review as review_cmd
from starter import run as run_cmd
from starter import status as status_cmd
from starter import workflows_cmd
from tests.conftest import ROOT, running_worker

EXAMPLE = "examples.product_reviews.workflow"
pytestmark = pytest.mark.usefixtures("quiet_logs")

GOOD = {
    "review_id": "R-1",
    "product": "Trail jacket",
    "rating": 5,
    "text": "I love this jacket: great fit, excellent zip. Would recommend.",
}
MISMATCH = {
    "review_id": "R-2",
    "product": "Trail jacket",
    "rating": 5,
    "text": "Terrible. The zip is broken after a week and the seams leak.",
}
OUT_OF_RANGE = {"review_id": "R-3", "product": "Tent", "rating": 7, "text": "ok"}


def reviews_file(tmp_path, *rows) -> str:
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


async def aiflow_run(env, settings, capsys, *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = await run_cmd.amain(["reviews", *argv], client=env.client, settings=settings)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


async def pending_review(handle) -> dict:
    for _ in range(200):
        if found := await handle.query("field_review"):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no field review opened")


async def test_a_workflow_of_your_own_runs_is_reviewed_and_persisted(env, settings, capsys):
    settings = settings.model_copy(update={"workflow_modules": [EXAMPLE]})
    path = reviews_file(settings.state_dir.parent, GOOD, MISMATCH, OUT_OF_RANGE)
    async with running_worker(env.client, settings):
        code, out, err = await aiflow_run(env, settings, capsys, path)
        assert (code, err) == (1, "")
        assert out == [
            "line 1\tR-1\tstarted\treview-R-1",
            "line 2\tR-2\tstarted\treview-R-2",
            "line 3\tR-3\tnot started\trating: Input should be less than or equal to 5",
        ]
        good = await env.client.get_workflow_handle("review-R-1").result()
        assert (good["outcome"], good["sentiment"], good["topics"], good["route"]) == (
            "labelled",
            "positive",
            ["fit", "quality"],
            "catalogue",
        )
        assert [(s["step"], s["outcome"]) for s in good["steps"]] == [
            ("sentiment", "ok"),
            ("qa", "pass"),
        ]
        handle = env.client.get_workflow_handle("review-R-2")
        pending = await pending_review(handle)
        assert (pending["fields"], pending["in_doubt"]) == (
            {"sentiment": "negative", "topics": ["quality"]},
            {"sentiment": "5 stars but labelled negative"},
        )
        bad = FieldDecision(action=FieldAction.CORRECT, reviewer="r", corrections={"stars": 1})
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("review_fields", bad)
        assert refused.value.cause.message == (
            "unknown fields ['stars']: the review has ['sentiment', 'topics']"
        )
        fix = FieldDecision(
            action=FieldAction.CORRECT,
            reviewer="ana@example.com",
            corrections={"topics": ["quality", "seams"]},
        )
        await handle.execute_update("review_fields", fix)
        mixed = await handle.result()
        again = await aiflow_run(env, settings, capsys, path)
    assert (mixed["outcome"], mixed["sentiment"], mixed["route"]) == (
        "corrected",
        "negative",
        "care",
    )
    assert mixed["deltas"] == [
        {"field": "topics", "proposed": ["quality"], "corrected": ["quality", "seams"]}
    ]
    assert [(s["step"], s["outcome"]) for s in mixed["steps"]] == [
        ("sentiment", "ok"),
        ("qa", "doubt"),
        ("review", "corrected"),
    ]
    assert again[0] == 1
    assert again[1][:2] == [
        "line 1\tR-1\talready submitted (finished: labelled)\treview-R-1",
        "line 2\tR-2\talready submitted (finished: corrected)\treview-R-2",
    ]
    store = Store(settings.store_url)
    try:
        rows = {r.workflow_id: r for r in store.list_runs()}
    finally:
        store.close()
    row = rows["review-R-2"]
    assert (row.ticket_id, row.outcome, row.route, row.category) == (
        "R-2",
        "corrected",
        "care",
        "negative",
    )
    assert row.result["workflow_type"] == "ProductReviews"
    out = settings.state_dir.parent / "feedback"
    capsys.readouterr()
    assert feedback_cmd.main(["export", "--out", str(out)], settings=settings) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "field corrections ProductReviews: topics 1" in printed
    lines = [json.loads(x) for x in (out / "field_corrections.jsonl").read_text().splitlines()]
    assert lines == [
        {
            "workflow_type": "ProductReviews",
            "workflow_id": "review-R-2",
            "item_key": "R-2",
            "field": "topics",
            "proposed": ["quality"],
            "corrected": ["quality", "seams"],
            "reviewer": None,
            "outcome": "corrected",
        }
    ]


def test_aiflow_workflows_lists_it_with_its_model_step(monkeypatch, capsys):
    monkeypatch.setenv("AIFLOW_WORKFLOW_MODULES", json.dumps([EXAMPLE]))
    assert workflows_cmd.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    table = out[: out.index("")]
    rows = {cells[0]: cells for cells in (re.split(r"  +", line) for line in table)}
    assert rows["name"] == ["name", "Temporal type", "workflow id", "model steps", "FILE"]
    assert rows["reviews"] == [
        *("reviews", "ProductReviews", "review-KEY", "sentiment=offline-classify"),
        "a .json review (or list) or a .jsonl file of reviews",
    ]
    assert list(rows)[-1] == "reviews"  # added after aiflow's own
    assert out[-3] == (
        "reviews: product reviews: sentiment and topics, care routing, field review when unsure"
    )


def test_the_readme_shows_the_example_as_it_is():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(
        r"```python\n# examples/product_reviews/workflow.py\n(.*?)```", readme, re.S
    )
    source = (ROOT / "examples" / "product_reviews" / "workflow.py").read_text()
    assert blocks == [source]


async def test_aiflow_review_lists_shows_and_decides_a_field_review(env, settings, capsys):
    settings = settings.model_copy(update={"workflow_modules": [EXAMPLE]})
    mismatch = MISMATCH | {"review_id": f"R-{settings.orchestration_queue[-8:]}"}
    run_id = f"review-{mismatch['review_id']}"
    path = reviews_file(settings.state_dir.parent, mismatch)

    async def review(*argv: str) -> tuple[int, list[str], str]:
        capsys.readouterr()
        code = await review_cmd.amain(list(argv), client=env.client, settings=settings)
        captured = capsys.readouterr()
        return code, captured.out.splitlines(), captured.err

    async with running_worker(env.client, settings):
        assert (await aiflow_run(env, settings, capsys, path))[0] == 0
        await pending_review(env.client.get_workflow_handle(run_id))
        for _ in range(100):  # visibility lists a run a moment after its upsert
            code, out, err = await review("list")
            if any(line.startswith(run_id) for line in out):
                break
            await asyncio.sleep(0.1)
        assert (code, err) == (0, "")
        row = next(re.split(r"  +", line) for line in out if line.startswith(run_id))
        assert (row[0], row[1], row[4]) == (
            run_id,
            "reviews",
            "sentiment: 5 stars but labelled negative",
        )
        assert out[-1] == "1 field review(s) pending"
        code, card, _ = await review("show", run_id)
        assert code == 0
        assert card[1].endswith("1 of 2 fields in doubt")
        assert "? sentiment: negative" in "\n".join(card)
        left = " ".join(line.split(" | ")[0].strip() for line in card[3:])
        assert "Terrible. The zip is broken after a week and the seams leak." in left
        refused = await review("edit", run_id, "--reviewer", "ana", "--set", "stars=1")
        assert refused == (
            3,
            [],
            "aiflow review: refused: unknown fields ['stars']: "
            "the review has ['sentiment', 'topics']\n",
        )
        done = await review("edit", run_id, "--reviewer", "ana", "--set", 'topics=["seams"]')
        assert done == (0, [f"correct applied: run {run_id}"], "")
        result = await env.client.get_workflow_handle(run_id).result()
    assert (result["outcome"], result["topics"]) == ("corrected", ["seams"])


async def test_aiflow_status_shows_any_workflows_run(env, settings, capsys):
    settings = settings.model_copy(update={"workflow_modules": [EXAMPLE]})
    mismatch = MISMATCH | {"review_id": f"S-{settings.orchestration_queue[-8:]}"}
    run_id = f"review-{mismatch['review_id']}"
    path = reviews_file(settings.state_dir.parent, mismatch)
    async with running_worker(env.client, settings):
        assert (await aiflow_run(env, settings, capsys, path))[0] == 0
        await pending_review(env.client.get_workflow_handle(run_id))
        capsys.readouterr()
        assert await status_cmd.amain([run_id], client=env.client, settings=settings) == 0
        live = json.loads(capsys.readouterr().out)
        assert (live["workflow_id"], live["field_review"]["in_doubt"]) == (
            run_id,
            {"sentiment": "5 stars but labelled negative"},
        )
        approve = FieldDecision(action=FieldAction.APPROVE, reviewer="ana")
        await env.client.get_workflow_handle(run_id).execute_update("review_fields", approve)
        await env.client.get_workflow_handle(run_id).result()
        capsys.readouterr()
        assert await status_cmd.amain([run_id], client=env.client, settings=settings) == 0
    final = json.loads(capsys.readouterr().out)
    assert (final["outcome"], final["route"], final["deltas"]) == ("approved", "care", [])


async def test_the_review_page_lists_shows_and_corrects_a_field_review(env, settings, capsys):
    from starter.review_web import create_app
    from tests.test_review_web import Form, logged_in, web_settings

    settings = web_settings(settings.model_copy(update={"workflow_modules": [EXAMPLE]}))
    mismatch = MISMATCH | {
        "review_id": f"W-{settings.orchestration_queue[-8:]}",
        "text": "Terrible <script>alert(1)</script>: the zip is broken and the seams leak.",
    }
    run_id = f"review-{mismatch['review_id']}"
    path = reviews_file(settings.state_dir.parent, mismatch)
    app = create_app(env.client, settings)
    async with running_worker(env.client, settings), logged_in(app) as http:
        assert (await aiflow_run(env, settings, capsys, path))[0] == 0
        await pending_review(env.client.get_workflow_handle(run_id))
        for _ in range(100):  # visibility lists a run a moment after its upsert
            queue = (await http.get("/queue")).text
            if f'href="/fields/{run_id}"' in queue:
                break
            await asyncio.sleep(0.1)
        assert f'<a href="/fields/{run_id}">{run_id}</a>' in queue
        page = await http.get(f"/fields/{run_id}")
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the source, escaped
        assert "<script>alert(1)" not in page.text
        form = Form(page.text).values
        assert (form["field:sentiment"], form["field:topics"]) == ("negative", '["quality"]')
        stale = await http.post(
            f"/fields/{run_id}", data=form | {"action": "approve", "review_id": "x"}
        )
        assert stale.status_code == 422  # an old page's decision never reaches the run
        foreign = await http.post(
            f"/fields/{run_id}",
            data=form | {"action": "approve"},
            headers={"origin": "http://evil"},
        )
        assert foreign.status_code == 403
        done = await http.post(
            f"/fields/{run_id}", data=form | {"action": "correct", "field:topics": '["seams"]'}
        )
        assert done.status_code == 200
        assert f"correct applied to {run_id}: topics corrected" in done.text
        result = await env.client.get_workflow_handle(run_id).result()
    assert (result["outcome"], result["topics"]) == ("corrected", ["seams"])
    assert result["deltas"] == [
        {"field": "topics", "proposed": ["quality"], "corrected": ["seams"]}
    ]
