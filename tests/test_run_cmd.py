"""`aiflow run WORKFLOW FILE…`: any registered workflow's items from files, one line each,
idempotent by business key, with the exit codes of `aiflow submit`."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from starter import run as run_cmd
from starter.doc_corpus import invoice, lines_of, pdf_bytes

pytestmark = pytest.mark.usefixtures("quiet_logs")


async def aiflow_run(env, settings, capsys, *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = await run_cmd.amain(list(argv), client=env.client, settings=settings)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


async def test_documents_from_a_folder_wait_and_rerun(env, settings, capsys):
    from tests.conftest import running_worker

    folder = settings.state_dir.parent / "docs"
    folder.mkdir()
    good = pdf_bytes(lines_of(invoice(random.Random(settings.orchestration_queue), 1), "pdf"))
    (folder / "a.pdf").write_bytes(good)
    (folder / "b-copy.pdf").write_bytes(good)
    broken_pdf = good[:200] + settings.orchestration_queue.encode()  # unique on the server
    (folder / "c-broken.pdf").write_bytes(broken_pdf)
    (folder / "notes.docx").write_bytes(b"not a document type we read")
    key, broken = hashlib.sha256(good).hexdigest()[:32], hashlib.sha256(broken_pdf).hexdigest()[:32]
    async with running_worker(env.client, settings):
        code, out, err = await aiflow_run(env, settings, capsys, "documents", str(folder), "--wait")
        again = await aiflow_run(env, settings, capsys, "documents", str(folder / "a.pdf"))
    assert (code, err) == (1, "")  # b-copy.pdf was not started
    assert out == [
        f"a.pdf\t{key}\tstarted\tdoc-{key}\textracted",
        "b-copy.pdf\t-\tnot started\tduplicate of a.pdf (same content)",
        f"c-broken.pdf\t{broken}\tstarted\tdoc-{broken}\trejected",
        "notes.docx\t-\tnot started\tunsupported type '.docx': ['.eml', '.htm', '.html', "
        "'.pdf', '.txt']",
    ]
    assert again == (0, [f"a.pdf\t{key}\talready submitted (finished: extracted)\tdoc-{key}"], "")


async def test_an_unknown_workflow_is_one_line(env, settings, capsys):
    assert await aiflow_run(env, settings, capsys, "nope", "x") == (
        2,
        [],
        "aiflow run: unknown workflow 'nope' (known: tickets, documents, content)\n",
    )


async def test_tickets_run_as_submit_checks_them_and_wait_for_their_review(env, settings, capsys):
    from tests.conftest import running_worker
    from tests.test_triage_workflow import ticket

    vip = ticket(customer_tier="vip")  # rule vip-enterprise: always reviewed
    path = settings.state_dir.parent / "t.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(vip) + "\n" + json.dumps({"subject": "no id"}) + "\n")
    tid = vip["ticket_id"]
    async with running_worker(env.client, settings):
        code, out, err = await aiflow_run(env, settings, capsys, "tickets", str(path), "--wait")
        await env.client.get_workflow_handle(f"ticket-{tid}").terminate("test done")
    assert (code, err) == (1, "")
    assert out == [
        f"line 1\t{tid}\tstarted\tticket-{tid}\tawaiting review: rule:vip-enterprise",
        "line 2\t-\tnot started\tticket_id is missing",
    ]
