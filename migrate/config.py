"""The project config file (`slm-migrate.yaml`): settings shared by the stages, loaded with
pydantic so that an unknown or mistyped key is an error naming the key and the file.

Precedence: defaults < the file < command-line flags. Secrets never go here (env vars only).
`slm-migrate init` writes a commented starter (`STARTER` below); `slm-migrate run` reads all of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrate.analyze.cluster import ClusterParams
from migrate.analyze.suitability import SuitabilityParams
from migrate.curate import CurateParams
from migrate.datasets.split import SplitParams
from migrate.errors import MigrateError, validation_message
from migrate.evaluate import EvaluateConfig
from migrate.finetune import FinetuneConfig


class AnalyzeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices: Path | None = Field(None, description="YAML price table merged over the bundled one")
    cluster: ClusterParams = Field(default_factory=ClusterParams)
    suitability: SuitabilityParams = Field(default_factory=SuitabilityParams)


class DatasetsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusters: Literal["recommended"] | list[str] = Field(
        "recommended", description="the clusters to migrate: those recommended by the analysis, or a list of ids")
    min_examples: int = Field(50, ge=1, description="fewest usable examples for a cluster to be built")
    max_length: int | None = Field(None, ge=16, description="most tokens of prompt + answer (None: the recipe's)")
    split: SplitParams = Field(default_factory=SplitParams)


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_precision: float = Field(0.99, gt=0, le=1, description="precision of routing to a specialist")
    fallback_model: str | None = Field(None, description="the LLM for everything else")


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_abstain_share: float = Field(0.2, ge=0, le=1, description="`run --check` fails above this share of unknown calls")
    max_share_change: float = Field(0.1, ge=0, le=1, description="…or when a cluster's share of calls moves more than this")


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(default_factory=list, description="log files or globs (relative to the config file)")
    format: str | None = Field(None, description="force one log format (default: detected per file)")
    out: Path | None = Field(None, description="workspace folder (relative to the config file); --out overrides")
    curate: CurateParams = Field(default_factory=CurateParams)
    analyze: AnalyzeConfig = Field(default_factory=AnalyzeConfig)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    route: RouteConfig = Field(default_factory=RouteConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)


def load_config(path: Path | None) -> ProjectConfig:
    if path is None:
        return ProjectConfig()
    if not path.exists():
        raise MigrateError(f"config file not found: {path}", hint="`slm-migrate init` writes a commented starter")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config = ProjectConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise MigrateError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        raise MigrateError(
            validation_message(exc, str(path), "config"),
            hint="`slm-migrate init` writes a starter config with every section commented; the README lists the keys",
        ) from None
    base = path.resolve().parent  # relative paths in the file are relative to the file
    if config.out is not None and not config.out.is_absolute():
        config.out = Path(os.path.normpath(base / config.out))
    if config.analyze.prices is not None and not config.analyze.prices.is_absolute():
        config.analyze.prices = base / config.analyze.prices
    config.inputs = [item if Path(item).is_absolute() else str(base / item) for item in config.inputs]
    return config


STARTER = """\
# slm-migrate project config: `slm-migrate run --config slm-migrate.yaml` runs
# analyze -> datasets -> finetune -> evaluate -> route build with it. Every key is optional;
# unknown keys are errors. Paths are relative to this file. Secrets never go here (env vars only).

# The agent logs to read: files or globs (.jsonl or .jsonl.gz), any supported format.
inputs:
  - logs/*.jsonl.gz
# format: openai            # force one format (default: detected per file)
out: slm-migrate-out         # the workspace folder (--out overrides)

curate:                      # PII and secret scrubbing, filters, dedup (README: Privacy and curation)
  scrub:
    allow: []                # values never treated as PII ("re:" prefix for a regex)
    deny: []                 # values always treated as PII
    disable: []              # entity types to leave alone, e.g. [URL]
  filters:
    max_tokens: 16384        # calls longer than this are not training data

analyze:
  # prices: prices.yaml      # USD per 1M tokens, merged over the bundled table
  cluster:
    seed: 0
    min_cluster_size: 10     # smaller groups of calls are outliers (they stay on the LLM)
    merge_threshold: 0.65    # answer similarity from which call sites are one subtask
  suitability:
    min_calls: 50            # fewest calls for a cluster to be recommended

datasets:
  clusters: recommended      # or a list: [c00, c03]
  min_examples: 50           # smaller clusters are skipped with a message
  split:
    test_fraction: 0.1
    validation_fraction: 0.1
    seed: 0

finetune:
  recipe: tiny-local         # a recipe in recipes/ or a YAML path; tiny-local is a toy for tests
  recipes: {}                # per cluster, e.g. {c00: qwen2.5-0.5b-instruct}
  set: []                    # overrides for every recipe, e.g. [num_train_epochs=2]

evaluate:
  thresholds:                # the specialist passes when its metric is at least `min`
    tool_call: {metric: exact_match, min: 0.95}
    json: {metric: field_f1, min: 0.9}
    label: {metric: accuracy, min: 0.95}
    code: {metric: chrf, min: 50}
    short_text: {metric: chrf, min: 50}
    long_text: {metric: chrf, min: 50}
  # slm_cost_per_1k_tokens: 0.0002   # USD to serve the SLM (default: the price table's `slm` entry)
  few_shot: 3                # training examples in the base model's few-shot baseline
  limit: 200                 # most test examples per cluster (a seeded sample)
  max_new_tokens: 256        # most tokens generated per answer

route:
  target_precision: 0.99     # routed requests belong to their cluster at least this often
  # fallback_model: gpt-4o   # the LLM for everything else (default: the model each request names)

drift:                       # `run --check` fails (and keeps the routing config) beyond these
  max_abstain_share: 0.2     # share of new calls the router does not recognise
  max_share_change: 0.1      # change of a cluster's share of calls
"""
