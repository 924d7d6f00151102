"""The model catalogue: aliases to ordered fallback chains of concrete models, and prices.

Loaded once per worker from data/models.toml and checked whole there, so a typo stops the
worker at start. Prices come from the file (offline, local, overrides) or from the bundled
genai-prices data; a call that cannot be priced raises `UnknownPrice`, it never costs $0.
"""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import genai_prices
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts import Usage

PROVIDERS = ("offline", "openai", "anthropic", "local")
# No price list covers these: the catalogue must state one.
PRICED_BY_CATALOGUE = frozenset({"offline", "local"})
# The price data ships inside the wheel, so the package version is the data version.
GENAI_PRICES_VERSION = f"genai-prices-{genai_prices.__version__}"
_MTOK = Decimal(1_000_000)


class UnknownPrice(ValueError):
    """A call aiflow cannot price: an unknown model, or usage of a kind with no price."""


class Price(BaseModel):
    """USD per million tokens. `simulated` prices are for budgets and reports, not bills."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    simulated: bool = False


class Target(BaseModel):
    """One concrete model an alias may resolve to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["offline", "openai", "anthropic", "local"]
    model: str = Field(min_length=1)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    price: Price | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _known_provider(cls, value: Any) -> Any:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r} (known: {', '.join(PROVIDERS)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.provider in PRICED_BY_CATALOGUE and self.price is None:
            raise ValueError(f"{self.provider} model {self.model!r} needs an explicit price")
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens exceeds context_window")
        return self


class Cost(BaseModel):
    """What one call cost, exactly, and which price data said so."""

    model_config = ConfigDict(frozen=True)

    usd: Decimal
    input_usd: Decimal
    output_usd: Decimal
    price_version: str  # genai-prices' data version, or the catalogue's for explicit prices
    estimated: bool  # simulated price or usage counted by aiflow
    priced_model: str  # the model the price was found under (a dated id maps to its base)


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    aliases: dict[str, list[str]]
    targets: dict[str, Target]


class Catalog:
    """Resolved alias chains plus the pricing rules; build it with `Catalog.load`."""

    def __init__(self, version: str, chains: dict[str, tuple[Target, ...]]) -> None:
        self.version = version
        self._chains = chains

    @classmethod
    def load(cls, path: Path | str) -> Catalog:
        """Read, validate and resolve a catalogue file; every error names the file and key."""
        path = Path(path)
        raw = path.read_bytes()
        try:
            data = _CatalogFile.model_validate(tomllib.loads(raw.decode(), parse_float=Decimal))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: {err}") from err
        except ValidationError as err:
            raise ValueError(f"{path}: {_describe(err)}") from None
        clash = sorted(data.aliases.keys() & data.targets.keys())
        if clash:
            raise ValueError(f"{path}: {clash[0]!r} names both an alias and a target")
        chains = {alias: _resolve(path, data, alias, ()) for alias in data.aliases}
        catalog = cls(f"{data.version}+{hashlib.sha256(raw).hexdigest()[:8]}", chains)
        catalog._check_prices(path, data.targets)
        return catalog

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(sorted(self._chains))

    def chain(self, alias: str) -> list[Target]:
        """The alias's targets, primary first, then its fallbacks in order."""
        try:
            return list(self._chains[alias])
        except KeyError:
            known = ", ".join(self.aliases)
            raise KeyError(f"unknown model alias {alias!r} (known: {known})") from None

    def price(self, target: Target, usage: Usage) -> Cost:
        """The exact cost of a call's usage on `target`; raises `UnknownPrice`, never $0."""
        if usage.input_tokens < 0 or usage.output_tokens < 0:
            raise ValueError(f"negative token counts: {usage!r}")
        if target.price is not None:
            p = target.price
            input_usd = usage.input_tokens * p.input_per_mtok / _MTOK
            output_usd = usage.output_tokens * p.output_per_mtok / _MTOK
            return Cost(
                usd=input_usd + output_usd,
                input_usd=input_usd,
                output_usd=output_usd,
                price_version=self.version,
                estimated=p.simulated or usage.estimated,
                priced_model=target.model,
            )
        name = f"{target.provider} model {target.model!r}"
        if target.provider in PRICED_BY_CATALOGUE:
            raise UnknownPrice(f"{name} has no price in the catalogue")
        tokens = {"input": usage.input_tokens, "output": usage.output_tokens}
        try:
            calc = genai_prices.calc_price(
                genai_prices.Usage(input_tokens=tokens["input"], output_tokens=tokens["output"]),
                model_ref=target.model,
                provider_id=target.provider,
            )
        except LookupError as err:
            raise UnknownPrice(f"{name} is unknown to {GENAI_PRICES_VERSION}") from err
        for kind, count in tokens.items():  # genai-prices bills a kind it has no price for as $0
            if count and getattr(calc.model_price, f"{kind}_mtok", None) is None:
                raise UnknownPrice(f"{name} has no {kind} token price in {GENAI_PRICES_VERSION}")
        version = GENAI_PRICES_VERSION
        if calc.auto_update_timestamp is not None:  # someone swapped in downloaded data
            version += f"+auto-{calc.auto_update_timestamp:%Y%m%dT%H%M%S}"
        return Cost(
            usd=calc.total_price,
            input_usd=calc.input_price,
            output_usd=calc.output_price,
            price_version=version,
            estimated=usage.estimated,
            priced_model=calc.model.id,
        )

    def worst_case_usd(self, target: Target, input_tokens: int, max_output_tokens: int) -> Decimal:
        """The most a call can cost: for reserving budget before making it."""
        usage = Usage(input_tokens=input_tokens, output_tokens=max_output_tokens)
        return self.price(target, usage).usd

    def _check_prices(self, path: Path, targets: dict[str, Target]) -> None:
        """Price one token each way on every target, so a model typo fails at load."""
        for key, target in targets.items():
            try:
                self.price(target, Usage(input_tokens=1, output_tokens=1))
            except UnknownPrice as err:
                raise UnknownPrice(f"{path}: targets.{key}: {err}") from None


def _resolve(
    path: Path, data: _CatalogFile, alias: str, seen: tuple[str, ...]
) -> tuple[Target, ...]:
    """Expand an alias's names into targets, splicing in the chains of aliases it names."""
    if alias in seen:
        raise ValueError(f"{path}: aliases.{alias}: cycle {' -> '.join((*seen, alias))}")
    names = data.aliases[alias]
    if not names:
        raise ValueError(f"{path}: aliases.{alias}: empty chain")
    chain: list[Target] = []
    for i, name in enumerate(names):
        if name in data.targets:
            chain.append(data.targets[name])
        elif name in data.aliases:
            chain.extend(_resolve(path, data, name, (*seen, alias)))
        else:
            raise ValueError(f"{path}: aliases.{alias}[{i}]: unknown target or alias {name!r}")
    return tuple(dict.fromkeys(chain))  # a model that failed once is no fallback for itself


def _describe(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
        for e in err.errors()
    )
