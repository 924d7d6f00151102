"""Unit tests for activities.catalog: the shipped catalogue, prices and every load error."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot
from genai_prices.data import providers

from activities.catalog import Catalog, Price, Target, UnknownPrice
from contracts import Usage

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "models.toml"
GENAI = f"genai-prices-{genai_prices.__version__}"

BASE = """\
version = "t1"

[aliases]
a = ["m"]

[targets.m]
provider = "offline"
model = "m-v1"
context_window = 100
max_output_tokens = 10
price = { input_per_mtok = 1.5, output_per_mtok = 2, simulated = true }
"""

OFFLINE = Target(
    provider="offline",
    model="offline-knn-v1",
    context_window=32_768,
    max_output_tokens=2_048,
    price=Price(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"), simulated=True),
)
LOCAL = Target(
    provider="local",
    model="llama-3.1-8b",
    context_window=8_192,
    max_output_tokens=1_024,
    price=Price(input_per_mtok=Decimal("0.05"), output_per_mtok=Decimal("0.08")),
)
GPT_4O_MINI = Target(
    provider="openai", model="gpt-4o-mini", context_window=128_000, max_output_tokens=16_384
)
SONNET = Target(
    provider="anthropic",
    model="claude-sonnet-4-5",
    context_window=200_000,
    max_output_tokens=64_000,
)


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.load(SHIPPED)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        Catalog.load(path)
    return str(info.value).removeprefix(f"{path}: ")


def models(catalog: Catalog, alias: str) -> list[tuple[str, str]]:
    return [(t.provider, t.model) for t in catalog.chain(alias)]


# --- the shipped catalogue ------------------------------------------------------------


def test_shipped_catalogue_chains(shipped: Catalog) -> None:
    assert shipped.aliases == (
        *("judge", "large", "offline-brief", "offline-classify", "offline-classify-small"),
        *("offline-draft", "offline-draft-small", "offline-extract", "offline-generate"),
        *("offline-judge", "small"),
    )
    assert models(shipped, "small") == [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("offline", "offline-knn-v1"),
    ]
    assert models(shipped, "large") == [("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5")]
    assert models(shipped, "judge") == [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4.1")]
    assert models(shipped, "offline-classify") == [("offline", "offline-knn-v1")]
    assert models(shipped, "offline-draft") == [("offline", "offline-template-v1")]
    assert models(shipped, "offline-classify-small") == [("offline", "offline-knn-lite-v1")]
    assert models(shipped, "offline-draft-small") == [("offline", "offline-template-lite-v1")]
    assert models(shipped, "offline-extract") == [("offline", "offline-extract-v1")]
    assert models(shipped, "offline-brief") == [("offline", "offline-brief-v1")]
    assert models(shipped, "offline-generate") == [("offline", "offline-writer-v1")]
    assert models(shipped, "offline-judge") == [("offline", "offline-judge-v1")]


def test_shipped_catalogue_targets(shipped: Catalog) -> None:
    assert shipped.chain("small")[0] == GPT_4O_MINI
    assert shipped.chain("small")[2] == OFFLINE
    assert shipped.chain("judge")[0] == SONNET


def test_shipped_version_is_declared_version_plus_file_hash(shipped: Catalog) -> None:
    digest = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()[:8]
    assert shipped.version == f"models-2026-11-23+{digest}"


def test_version_of_a_known_file(tmp_path: Path) -> None:
    assert Catalog.load(write(tmp_path, BASE)).version == "t1+af24f72c"


def test_chain_is_a_copy(shipped: Catalog) -> None:
    shipped.chain("large").clear()
    assert len(shipped.chain("large")) == 2


def test_unknown_alias_lists_the_known_ones(shipped: Catalog) -> None:
    with pytest.raises(KeyError) as info:
        shipped.chain("medium")
    assert info.value.args[0] == (
        "unknown model alias 'medium' (known: judge, large, offline-brief, offline-classify, "
        "offline-classify-small, offline-draft, offline-draft-small, offline-extract, "
        "offline-generate, offline-judge, small)"
    )


def test_alias_references_splice_and_deduplicate(tmp_path: Path) -> None:
    text = BASE.replace('a = ["m"]', 'a = ["m"]\nb = ["n", "a", "m"]') + (
        '\n[targets.n]\nprovider = "local"\nmodel = "n-v1"\ncontext_window = 100\n'
        "max_output_tokens = 10\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n"
    )
    catalog = Catalog.load(write(tmp_path, text))
    assert models(catalog, "b") == [("local", "n-v1"), ("offline", "m-v1")]


# --- prices ---------------------------------------------------------------------------


def test_explicit_price_is_exact(shipped: Catalog) -> None:
    cost = shipped.price(OFFLINE, Usage(input_tokens=1234, output_tokens=567))
    assert cost.input_usd == Decimal("0.0001851")
    assert cost.output_usd == Decimal("0.0003402")
    assert cost.usd == Decimal("0.0005253")
    assert cost.price_version == shipped.version
    assert cost.priced_model == "offline-knn-v1"
    assert cost.estimated is True  # simulated price


def test_explicit_price_estimated_only_with_estimated_usage(shipped: Catalog) -> None:
    reported = shipped.price(LOCAL, Usage(input_tokens=1_000, output_tokens=1_000))
    assert (reported.usd, reported.estimated) == (Decimal("0.00013"), False)
    counted = shipped.price(LOCAL, Usage(input_tokens=1_000, output_tokens=1_000, estimated=True))
    assert (counted.usd, counted.estimated) == (Decimal("0.00013"), True)


def test_gpt_4o_mini_price_from_genai_prices(shipped: Catalog) -> None:
    cost = shipped.price(GPT_4O_MINI, Usage(input_tokens=1_000_000, output_tokens=1_000_000))
    assert cost.input_usd == Decimal("0.150")
    assert cost.output_usd == Decimal("0.6")
    assert cost.usd == Decimal("0.750")
    assert cost.priced_model == "gpt-4o-mini"
    assert cost.price_version == GENAI
    assert cost.estimated is False


def test_downloaded_price_data_is_versioned_apart(shipped: Catalog) -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5)
    snapshot = data_snapshot.DataSnapshot(providers, from_auto_update=True, timestamp=stamp)
    data_snapshot.set_custom_snapshot(snapshot)
    try:
        cost = shipped.price(GPT_4O_MINI, Usage(input_tokens=1_000_000))
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert (cost.usd, cost.price_version) == (Decimal("0.150"), f"{GENAI}+auto-20260102T030405")


def test_dated_model_id_is_priced_as_its_base(shipped: Catalog) -> None:
    dated = GPT_4O_MINI.model_copy(update={"model": "gpt-4o-mini-2024-07-18"})
    cost = shipped.price(dated, Usage(input_tokens=1_000, output_tokens=1_000, estimated=True))
    assert (cost.usd, cost.priced_model, cost.estimated) == (
        Decimal("0.00075"),
        "gpt-4o-mini",
        True,
    )


def test_unknown_model_raises_unknown_price(shipped: Catalog) -> None:
    typo = GPT_4O_MINI.model_copy(update={"model": "gpt-4o-minii"})
    with pytest.raises(UnknownPrice) as info:
        shipped.price(typo, Usage(input_tokens=1, output_tokens=1))
    assert str(info.value) == f"openai model 'gpt-4o-minii' is unknown to {GENAI}"


def test_unpriced_usage_kind_raises_unknown_price(shipped: Catalog) -> None:
    embedding = GPT_4O_MINI.model_copy(update={"model": "text-embedding-3-small"})
    assert shipped.price(embedding, Usage(input_tokens=1_000_000)).usd == Decimal("0.02")
    with pytest.raises(UnknownPrice) as info:
        shipped.price(embedding, Usage(input_tokens=10, output_tokens=1))
    assert str(info.value) == (
        f"openai model 'text-embedding-3-small' has no output token price in {GENAI}"
    )


def test_catalogue_model_without_price_raises_unknown_price(shipped: Catalog) -> None:
    unpriced = Target.model_construct(**(LOCAL.model_dump() | {"price": None}))
    with pytest.raises(UnknownPrice) as info:
        shipped.price(unpriced, Usage(input_tokens=1))
    assert str(info.value) == "local model 'llama-3.1-8b' has no price in the catalogue"


def test_negative_usage_is_refused(shipped: Catalog) -> None:
    with pytest.raises(ValueError) as info:
        shipped.price(OFFLINE, Usage(input_tokens=-1))
    assert str(info.value) == (
        "negative token counts: Usage(input_tokens=-1, output_tokens=0, estimated=False)"
    )


def test_worst_case_explicit_price(shipped: Catalog) -> None:
    # 1,000 x 0.15 / 1M + 2,048 x 0.60 / 1M
    assert shipped.worst_case_usd(OFFLINE, 1_000, 2_048) == Decimal("0.0013788")


def test_worst_case_genai_prices(shipped: Catalog) -> None:
    # 10,000 x 0.15 / 1M + 16,384 x 0.60 / 1M
    assert shipped.worst_case_usd(GPT_4O_MINI, 10_000, 16_384) == Decimal("0.0113304")
    # Above 200k input tokens the whole request moves to Sonnet's long-context tier:
    # 250,000 x 6 / 1M + 64,000 x 22.5 / 1M
    assert shipped.worst_case_usd(SONNET, 250_000, 64_000) == Decimal("2.94")


# --- load errors ----------------------------------------------------------------------


def test_unknown_provider(tmp_path: Path) -> None:
    text = BASE.replace('provider = "offline"', 'provider = "azure"')
    assert load_error(tmp_path, text) == (
        "targets.m.provider: unknown provider 'azure' (known: offline, openai, anthropic, local)"
    )


@pytest.mark.parametrize("provider", ["offline", "local"])
def test_missing_price(tmp_path: Path, provider: str) -> None:
    text = BASE.replace('provider = "offline"', f'provider = "{provider}"').split("price =")[0]
    assert load_error(tmp_path, text) == (
        f"targets.m: {provider} model 'm-v1' needs an explicit price"
    )


def test_empty_chain(tmp_path: Path) -> None:
    assert load_error(tmp_path, BASE.replace('a = ["m"]', "a = []")) == "aliases.a: empty chain"


def test_unknown_reference(tmp_path: Path) -> None:
    text = BASE.replace('a = ["m"]', 'a = ["m", "large"]')
    assert load_error(tmp_path, text) == "aliases.a[1]: unknown target or alias 'large'"


def test_alias_cycle(tmp_path: Path) -> None:
    text = BASE.replace('a = ["m"]', 'a = ["m", "b"]\nb = ["a"]')
    assert load_error(tmp_path, text) == "aliases.a: cycle a -> b -> a"


def test_name_clash(tmp_path: Path) -> None:
    text = BASE.replace('a = ["m"]', 'a = ["m"]\nm = ["m"]')
    assert load_error(tmp_path, text) == "'m' names both an alias and a target"


def test_output_larger_than_context(tmp_path: Path) -> None:
    text = BASE.replace("max_output_tokens = 10", "max_output_tokens = 101")
    assert load_error(tmp_path, text) == "targets.m: max_output_tokens exceeds context_window"


def test_misspelt_key(tmp_path: Path) -> None:
    text = BASE.replace("max_output_tokens", "max_ouput_tokens")
    assert load_error(tmp_path, text) == (
        "targets.m.max_output_tokens: Field required; "
        "targets.m.max_ouput_tokens: Extra inputs are not permitted"
    )


def test_missing_version(tmp_path: Path) -> None:
    text = BASE.replace('version = "t1"', "")
    assert load_error(tmp_path, text) == "version: Field required"


def test_toml_syntax_error(tmp_path: Path) -> None:
    text = BASE.replace('a = ["m"]', 'a = ["m"')
    assert load_error(tmp_path, text) == "Unclosed array (at line 6, column 1)"


def test_unknown_genai_model_fails_at_load(tmp_path: Path) -> None:
    text = BASE.split("price =")[0].replace('"offline"', '"openai"').replace("m-v1", "gpt-4o-minii")
    path = write(tmp_path, text)
    with pytest.raises(UnknownPrice) as info:
        Catalog.load(path)
    assert (
        str(info.value) == f"{path}: targets.m: openai model 'gpt-4o-minii' is unknown to {GENAI}"
    )


def test_model_without_output_price_fails_at_load(tmp_path: Path) -> None:
    text = BASE.split("price =")[0].replace('"offline"', '"openai"')
    text = text.replace("m-v1", "text-embedding-3-small")
    assert load_error(tmp_path, text) == (
        f"targets.m: openai model 'text-embedding-3-small' has no output token price in {GENAI}"
    )


def test_explicit_price_overrides_genai_prices(tmp_path: Path) -> None:
    text = BASE.replace('"offline"', '"openai"').replace("m-v1", "gpt-4o-mini")
    catalog = Catalog.load(write(tmp_path, text))
    cost = catalog.price(catalog.chain("a")[0], Usage(input_tokens=2_000_000))
    assert (cost.usd, cost.price_version) == (Decimal("3"), catalog.version)
