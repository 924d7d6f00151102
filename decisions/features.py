"""The shapes of a run's input that drift checks compare: lengths, codes, counts, never
text. Computed in the workflow, stored by an activity."""

from __future__ import annotations

from contracts import NormalizedTicket, RunFeaturesInput


def features_of(workflow_id: str, ticket: NormalizedTicket) -> RunFeaturesInput:
    return RunFeaturesInput(
        workflow_id=workflow_id,
        ticket_id=ticket.ticket_id,
        body_chars=len(ticket.body),
        language=ticket.language,
        channel=ticket.channel,
        customer_tier=ticket.customer_tier,
        metadata_keys=len(ticket.metadata),
    )
