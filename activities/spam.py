"""The spam model as a local activity: scored on the orchestration worker (pure CPU, well
under a millisecond), its verdict recorded in the run's history."""

from __future__ import annotations

from temporalio import activity

from contracts.spam import SpamCheck, SpamVerdict
from decisions.spam import SpamModel


class SpamActivities:
    def __init__(self, model: SpamModel | None = None) -> None:
        self._model = model

    @property
    def model(self) -> SpamModel:
        if self._model is None:  # loaded on first use: a worker that never scores loads nothing
            self._model = SpamModel.load()
        return self._model

    @activity.defn(name="spam_score")
    def spam_score(self, check: SpamCheck) -> SpamVerdict:
        m = self.model
        s = m.score(check.subject, check.body, check.sender, check.headers)
        return SpamVerdict(
            p_spam=round(s.p_spam, 6),
            lane=s.lane,
            reasons=list(s.reasons),
            model_version=s.model_version,
            close_bar=m.close_bar,
            likely_bar=m.likely_bar,
        )
