"""aiflow's custom search attributes: what ops filter on in the Temporal Web UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("AiflowStage")
OUTCOME = SearchAttributeKey.for_keyword("AiflowOutcome")
CATEGORY = SearchAttributeKey.for_keyword("AiflowCategory")
ROUTE = SearchAttributeKey.for_keyword("AiflowRoute")
NEEDS_REVIEW = SearchAttributeKey.for_bool("AiflowNeedsReview")
COST_USD = SearchAttributeKey.for_float("AiflowCostUsd")
# The highest tier that settled the run: rules, exact, semantic, small, large, human.
TIER = SearchAttributeKey.for_keyword("AiflowTier")

ALL_KEYS = [STAGE, OUTCOME, CATEGORY, ROUTE, NEEDS_REVIEW, COST_USD, TIER]

# The type names the Temporal CLI takes (`--search-attribute Name=Type`, `--type Type`).
SEARCH_ATTRIBUTE_TYPES = {
    "TEXT": "Text",
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}
