"""Money: a price table (bundled YAML, overridable) and what a call costs.

Prices are US dollars per 1M tokens. A model name matches its entry exactly, else the longest
entry that is a prefix of it (dated snapshots), also with any `provider/` prefix removed.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrate.errors import MigrateError, validation_message


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0, description="USD per 1M prompt tokens")
    output: float = Field(ge=0, description="USD per 1M completion tokens")


class PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    unit_tokens: int = 1_000_000
    models: dict[str, Price] = Field(default_factory=dict)
    slm: Price | None = None


def _load(text: str, source: str) -> PriceFile:
    try:
        data = yaml.safe_load(text) or {}
        return PriceFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise MigrateError(f"{source}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        raise MigrateError(
            validation_message(exc, source, "price table"),
            hint="entries look like `models: {gpt-4o: {input: 2.5, output: 10.0}}` (USD per 1M tokens)",
        ) from None


class PriceTable:
    def __init__(self, override: Path | None = None):
        bundled = resources.files("migrate.data").joinpath("prices.yaml").read_text(encoding="utf-8")
        table = _load(bundled, "bundled prices.yaml")
        self.sources = ["bundled"]
        if override is not None:
            if not override.exists():
                raise MigrateError(f"price file not found: {override}")
            extra = _load(override.read_text(encoding="utf-8"), str(override))
            table.models.update(extra.models)
            table.slm = extra.slm or table.slm
            self.sources.append(str(override))
        self.unit = float(table.unit_tokens)
        self.models = {name.lower(): price for name, price in table.models.items()}
        self.slm = table.slm or Price(input=0.0, output=0.0)
        self.price_for = lru_cache(maxsize=4096)(self._price_for)

    def _price_for(self, model: str | None) -> Price | None:
        if not model:
            return None
        name = model.lower()
        for candidate in (name, name.split("/", 1)[-1]):
            if candidate in self.models:
                return self.models[candidate]
            prefixes = [k for k in self.models if candidate.startswith(k)]
            if prefixes:
                return self.models[max(prefixes, key=len)]
        return None

    def cost(self, model: str | None, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        price = self.price_for(model)
        if price is None or prompt_tokens is None:
            return None
        return (prompt_tokens * price.input + (completion_tokens or 0) * price.output) / self.unit

    def slm_cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.slm.input + completion_tokens * self.slm.output) / self.unit

    def describe(self) -> dict[str, Any]:
        return {"sources": self.sources, "slm_usd_per_1m": self.slm.model_dump()}
