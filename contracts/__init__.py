"""Wire models: everything that crosses a Temporal boundary.

One module per seam, all re-exported here: `common` (queues, Wire, outcomes, step
records), `rules`, `models` (model steps), `qa`, `runs` (run configuration, persistence),
`tickets` (the triage workflow's own), `drift`; each reference workflow's own types in
`items` (field reviews), `extraction`, `generation`; intake caps in `limits`.

Durable contracts: histories keep these shapes, so only add optional fields.
Import nothing here but pydantic and the standard library.
"""

from contracts.common import (
    MODEL_QUEUE,
    ORCHESTRATION_QUEUE,
    ConfigInput,
    Notification,
    Outcome,
    Stage,
    StepKind,
    StepRecord,
    Wire,
)
from contracts.drift import (
    DriftAlert,
    DriftInput,
    DriftReport,
    DriftSnapshot,
    DriftWindows,
    FeatureCounts,
    FeatureDrift,
    RunFeaturesInput,
)
from contracts.models import (
    BreakerCheck,
    BreakerVerdict,
    DegradationPolicy,
    ModelCall,
    ModelStepInput,
    ModelStepResult,
    ModelTarget,
    ModelWait,
    PromptRef,
    Usage,
)
from contracts.qa import (
    QaFinding,
    QaReport,
)
from contracts.rules import (
    Rule,
    RuleAction,
    RuleCondition,
    RuleMatch,
    RuleSet,
    RulesVerdict,
)
from contracts.runs import (
    PersistRunInput,
    RunConfig,
)
from contracts.tickets import (
    CATEGORIES,
    PRIORITIES,
    TERMINAL_ACTIONS,
    Classification,
    Correction,
    Draft,
    NormalizedTicket,
    Rejection,
    ReviewAction,
    ReviewDecision,
    ReviewEvent,
    ReviewProposal,
    ReviewReceipt,
    ReviewRequest,
    RunState,
    Ticket,
    TriageInput,
    TriageResult,
)

__all__ = [
    "ORCHESTRATION_QUEUE",
    "MODEL_QUEUE",
    "Wire",
    "Stage",
    "Outcome",
    "StepKind",
    "StepRecord",
    "Notification",
    "ConfigInput",
    "RuleCondition",
    "RuleAction",
    "Rule",
    "RuleSet",
    "RuleMatch",
    "RulesVerdict",
    "Usage",
    "PromptRef",
    "ModelTarget",
    "ModelCall",
    "ModelStepInput",
    "BreakerCheck",
    "BreakerVerdict",
    "DegradationPolicy",
    "ModelWait",
    "ModelStepResult",
    "QaFinding",
    "QaReport",
    "RunConfig",
    "PersistRunInput",
    "Ticket",
    "NormalizedTicket",
    "Rejection",
    "Classification",
    "Draft",
    "CATEGORIES",
    "PRIORITIES",
    "ReviewAction",
    "TERMINAL_ACTIONS",
    "ReviewDecision",
    "ReviewProposal",
    "ReviewEvent",
    "ReviewRequest",
    "ReviewReceipt",
    "Correction",
    "TriageInput",
    "TriageResult",
    "RunState",
    "RunFeaturesInput",
    "DriftInput",
    "DriftWindows",
    "FeatureCounts",
    "DriftSnapshot",
    "FeatureDrift",
    "DriftReport",
    "DriftAlert",
]
