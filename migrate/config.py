"""The project config file (`slm-migrate.yaml`): settings shared by the stages, loaded with
pydantic so that an unknown or mistyped key is an error naming the key and the file.

Precedence: defaults < the file < command-line flags. Secrets never go here (env vars only).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrate.curate import CurateParams
from migrate.errors import MigrateError, validation_message
from migrate.evaluate import EvaluateConfig
from migrate.finetune import FinetuneConfig


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    curate: CurateParams = Field(default_factory=CurateParams)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)


def load_config(path: Path | None) -> ProjectConfig:
    if path is None:
        return ProjectConfig()
    if not path.exists():
        raise MigrateError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ProjectConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise MigrateError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        raise MigrateError(
            validation_message(exc, str(path), "config"),
            hint="see the README's 'Privacy' section for the keys of `curate:` 'slm-migrate finetune' for `finetune:` and 'slm-migrate evaluate' for `evaluate:`",
        ) from None
