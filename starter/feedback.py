"""Reviewer corrections as data: fine-tuning examples, an evaluation set, override rates.

    aiflow feedback export --out DIR [--since 2025-01-01T00:00] [--prompt-version ID@V ...]
    aiflow feedback stats [--since ...] [--prompt-version ...]

export writes DIR/field_corrections.jsonl (every other workflow's field reviews: one
line per corrected field, the AI's value beside the reviewer's), DIR/finetune.jsonl
(chat fine-tuning format: each approved or edited decision as a classify and a draft
example, rendered with the prompt version the run used and the reviewer's final
answer), DIR/eval.jsonl (one line per decision: the ticket and the expected answer;
rejects carry expected null), DIR/spam.jsonl (reviewers' spam / not-spam decisions as
labelled examples: `spam` is spam; approve and edit are not; for
`make train-spam EXTRA=DIR/spam.jsonl`) and DIR/summary.json. Both commands print the override
rates per prompt version and per proposed category, and the field corrections per
workflow and field.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from activities.prompts import PromptError, PromptLibrary
from activities.review_store import CorrectionRow, ReviewRow
from activities.store import StepRow, Store, open_store
from contracts import PromptRef, ReviewRequest
from deployment import prompt_library
from protection.sealed import mask_deep
from settings import Settings
from starter.field_feedback import field_corrections, field_summary
from starter.terminal import load_settings
from workflows.triage_spam import spam_headers

NO_CATEGORY = "(none)"  # the group of decisions whose run proposed no category


@dataclass(frozen=True)
class Decision:
    """One stored correction with what export needs from its review and its steps."""

    row: CorrectionRow
    review: ReviewRequest | None
    draft_reasoning: str | None  # the model's own reasoning for the proposed reply


def load(
    store: Store, since: datetime | None = None, prompt_versions: list[str] | None = None
) -> list[Decision]:
    """Corrections decided at or after `since` whose run used one of `prompt_versions`,
    oldest first, each with its review request and the last draft step's reasoning."""
    rows = store.corrections()
    if since is not None:
        rows = [r for r in rows if utc(r.decided_at) >= since]
    if prompt_versions:
        rows = [r for r in rows if set(r.prompt_versions) & set(prompt_versions)]
    rows.sort(key=lambda r: (utc(r.decided_at), r.decision_id))
    with Session(store.engine) as session:  # joins, not IN lists: no bound-value limits
        reviews = {
            r.review_id: ReviewRequest.model_validate(r.request)
            for r in session.exec(
                select(ReviewRow).join(
                    CorrectionRow, CorrectionRow.review_id == ReviewRow.review_id
                )
            )
        }
        drafts: dict[str, str | None] = {}
        for step in session.exec(
            select(StepRow)
            .join(CorrectionRow, CorrectionRow.workflow_id == StepRow.workflow_id)
            .where(StepRow.step == "draft", StepRow.outcome == "ok")
            .order_by(StepRow.workflow_id, StepRow.seq)
        ):
            drafts[step.workflow_id] = step.reasoning  # the last one is the proposal's
    return [Decision(r, reviews.get(r.review_id), drafts.get(r.workflow_id)) for r in rows]


def utc(value: datetime) -> datetime:
    """Stored datetimes come back naive from SQLite and PostgreSQL: they are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pinned(d: Decision, prompt_id: str) -> PromptRef | None:
    for entry in d.row.prompt_versions:
        pid, _, version = entry.partition("@")
        if pid == prompt_id:
            return PromptRef(id=pid, version=version, sha256="")
    return None


def chat(prompts: PromptLibrary, ref: PromptRef, variables: dict, answer: dict) -> dict:
    messages = [m.model_dump() for m in prompts.get(ref).render(variables)]
    content = json.dumps(answer, ensure_ascii=False)
    return {"messages": [*messages, {"role": "assistant", "content": content}]}


def examples(prompts: PromptLibrary, d: Decision) -> tuple[list[dict], list[str]]:
    """The fine-tuning examples of one decision and why any was left out."""
    row, review, final = d.row, d.review, d.row.final
    if final is None:
        return [], []  # a reject says what not to send, not what to send
    if review is None or review.ticket is None:
        return [], ["no stored ticket for this review"]
    t, out, skipped = review.ticket, [], []
    language = review.language or t.language
    kept = {f: row.proposal.get(f) == final.get(f) for f in ("category", "priority", "reply")}
    note = row.note or ""
    classify, draft = pinned(d, "triage.classify"), pinned(d, "triage.draft")
    wanted: list[tuple[PromptRef, dict, dict]] = []
    if classify is None or row.confidence is None or not final.get("category"):
        skipped.append("no classifier output in this run")
    else:
        variables = {
            "subject": t.subject,
            "body": t.body,
            "language_hint": t.language,
            "customer_tier": t.customer_tier,
            "channel": t.channel,
        }
        answer = {
            "category": final["category"],
            "priority": final["priority"],
            "confidence": row.confidence,  # the run's own: see the README
            "language": language,
            "reasoning": (review.reasoning or "")
            if kept["category"] and kept["priority"]
            else note,
        }
        wanted.append((classify, variables, answer))
    if draft is None:
        skipped.append("no draft prompt in this run")
    else:
        variables = {
            "subject": t.subject,
            "body": t.body,
            "customer_name": t.customer_name,
            "category": final.get("category"),
            "priority": final.get("priority"),
            "language": language,
            "ticket_id": t.ticket_id,
            "qa_feedback": [],  # the first attempt: the answer a reviewer would not change
            "attempt": 1,
        }
        reasoning = (d.draft_reasoning or "") if kept["reply"] else note
        wanted.append((draft, variables, {"reply": final["reply"], "reasoning": reasoning}))
    for ref, variables, answer in wanted:
        try:
            out.append(chat(prompts, ref, variables, answer))
        except PromptError as err:  # that version's file is gone: keep the other example
            skipped.append(str(err))
    return out, skipped


def eval_case(d: Decision) -> dict:
    row = d.row
    ticket = d.review.ticket if d.review else None
    return {
        "id": row.decision_id,
        "ticket_id": row.ticket_id,
        "input": ticket.model_dump(mode="json") if ticket else None,
        "expected": None
        if row.final is None
        else {f: row.final.get(f) for f in ("category", "priority", "reply")},
        "rejected": row.action == "reject",
        "reason": row.reason,
        "action": row.action,
        "proposal": row.proposal,
        "prompt_versions": row.prompt_versions,
        "models": row.models,
    }


def rates(rows: list[CorrectionRow]) -> dict[str, Any]:
    """Counts and rates of a group; override = edit, reject or spam, of all decisions."""
    actions = [r.action for r in rows]
    overrides = sum(1 for a in actions if a in ("edit", "reject", "spam"))
    ratios = [r.reply_edit_ratio for r in rows if r.reply_edit_ratio is not None]
    times = [r.time_to_review_s for r in rows]
    return {
        "decisions": len(rows),
        "approved": actions.count("approve"),
        "edited": actions.count("edit"),
        "rejected": actions.count("reject"),
        "spam": actions.count("spam"),
        "overrides": overrides,
        "override_rate": round(overrides / len(rows), 4) if rows else None,
        "mean_reply_edit_ratio": round(statistics.fmean(ratios), 4) if ratios else None,
        "median_time_to_review_s": round(statistics.median(times), 3) if times else None,
    }


def summarize(decisions: list[Decision]) -> dict[str, Any]:
    rows = [d.row for d in decisions]
    versions = sorted({v for r in rows for v in r.prompt_versions})
    categories = sorted({r.proposed_category or NO_CATEGORY for r in rows})
    count = lambda values: {k: values.count(k) for k in sorted(set(values))}  # noqa: E731
    return {
        **rates(rows),
        "by_prompt_version": {
            v: rates([r for r in rows if v in r.prompt_versions]) for v in versions
        },
        "by_category": {
            c: rates([r for r in rows if (r.proposed_category or NO_CATEGORY) == c])
            for c in categories
        },
        "reasons": count([r.reason for r in rows if r.reason]),
        "changed_fields": count([f for r in rows for f in r.changed_fields]),
    }


SPAM_LABELS = {"spam": "spam", "approve": "ham", "edit": "ham"}  # reject says neither


def spam_example(d: Decision) -> dict | None:
    """A reviewer's decision as a labelled example for the spam model (bench/train_spam.py
    --extra), or None when it says nothing about spam or its ticket was not stored."""
    label = SPAM_LABELS.get(d.row.action)
    t = d.review.ticket if d.review else None
    if label is None or t is None:
        return None
    return {
        "id": d.row.decision_id,
        "subject": t.subject,
        "body": t.body,
        "sender": t.customer_email,
        "headers": spam_headers(t),
        "label": label,
    }


def export(decisions: list[Decision], prompts: PromptLibrary, out: Path) -> dict[str, Any]:
    """Write the files into `out`; return the summary that went to summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    finetune, skipped = [], []
    for d in decisions:
        made, why = examples(prompts, d)
        finetune += made
        skipped += [{"decision_id": d.row.decision_id, "why": w} for w in why]
    write_jsonl(out / "finetune.jsonl", finetune)
    write_jsonl(out / "eval.jsonl", [eval_case(d) for d in decisions])
    spam = [e for d in decisions if (e := spam_example(d)) is not None]
    write_jsonl(out / "spam.jsonl", spam)
    summary = summarize(decisions) | {
        "finetune_examples": len(finetune),
        "eval_cases": len(decisions),
        "spam_examples": len(spam),
        "skipped_examples": skipped,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def write_jsonl(path: Path, lines: list[dict]) -> None:
    """One JSON line each, card numbers, IBANs and secrets masked (also inside the JSON
    text of an example's answer): rows stored before masking must not leak either."""
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(mask_deep(line), ensure_ascii=False) + "\n" for line in lines)


def table(summary: dict[str, Any]) -> str:
    """The readable report: one line per prompt version, per category, and the total."""
    head = f"{'group':<30} {'decisions':>9} {'approve':>7} {'edit':>5} {'reject':>6}"
    lines = [head + f" {'override':>8} {'reply edit':>10} {'review p50':>10}"]

    def line(label: str, g: dict[str, Any]) -> str:
        rate = "-" if g["override_rate"] is None else f"{g['override_rate']:.1%}"
        ratio = g["mean_reply_edit_ratio"]
        p50 = g["median_time_to_review_s"]
        return (
            f"{label:<30} {g['decisions']:>9} {g['approved']:>7} {g['edited']:>5}"
            f" {g['rejected']:>6} {rate:>8} {'-' if ratio is None else f'{ratio:.3f}':>10}"
            f" {'-' if p50 is None else f'{p50:.1f}s':>10}"
        )

    lines += [line(f"prompt {v}", g) for v, g in summary["by_prompt_version"].items()]
    lines += [line(f"category {c}", g) for c, g in summary["by_category"].items()]
    lines.append(line("all", summary))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow feedback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in [
        ("export", "write finetune.jsonl, eval.jsonl and summary.json"),
        ("stats", "print the override rates"),
    ]:
        a = sub.add_parser(name, help=help_)
        if name == "export":
            a.add_argument("--out", required=True, type=Path, help="folder for the files")
        a.add_argument("--since", type=since_arg, help="decisions at or after (ISO 8601, UTC)")
        a.add_argument(
            "--prompt-version",
            action="append",
            dest="prompt_versions",
            metavar="ID@VERSION",
            help="only runs that used this prompt version, e.g. triage.draft@v1 (repeatable)",
        )
    return p


def since_arg(value: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None


def main(
    argv: list[str] | None = None, client: object = None, settings: Settings | None = None
) -> int:
    """`client` is accepted like every starter command's; the feedback lives in the store."""
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    with open_store(settings.store_url) as store:
        decisions = load(store, args.since, args.prompt_versions)
        fields = field_corrections(store, args.since)
    if args.command == "export":
        summary = export(decisions, prompt_library(settings), args.out)
        write_jsonl(args.out / "field_corrections.jsonl", fields)
    else:
        summary = summarize(decisions)
    print(table(summary))
    for workflow_type, counts in field_summary(fields).items():
        shown = ", ".join(f"{field} {n}" for field, n in counts.items())
        print(f"field corrections {workflow_type}: {shown}")
    if args.command == "export":
        print(
            f"wrote {args.out}: finetune.jsonl ({summary['finetune_examples']} examples),"
            f" eval.jsonl ({summary['eval_cases']} cases),"
            f" spam.jsonl ({summary['spam_examples']} labelled), summary.json,"
            f" field_corrections.jsonl ({len(fields)} corrected fields)"
        )
        for s in summary["skipped_examples"]:
            print(f"skipped an example of {s['decision_id']}: {s['why']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
