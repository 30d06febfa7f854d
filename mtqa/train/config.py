"""The training config (``configs/train.yaml``), validated."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtqa.errors import ConfigError
from mtqa.train.data import DataSpec


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    format: str = "auto"
    score: str | None = None
    group: str | None = None
    split: str = "all"
    train_docs: float = 0.8
    n: int | None = None
    seed: int | None = None
    split_seed: int | None = None


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "gemma-3-270m"
    dtype: str = "bfloat16"
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    features_dir: str = ".mtqa_home/features"
    output: str = "mtqa/resources/quality-gemma-3-270m.json"
    ridge: float = Field(1.0, ge=0)
    flag_logit: float = Field(1.0, ge=0, description="log-odds lost per distinct artefact flag")
    predictions_dir: str | None = None
    chunk: int = Field(64, ge=1)
    train: list[SpecModel]
    report: list[SpecModel] = Field(default_factory=list)

    def specs(self, which: str) -> list[DataSpec]:
        out = []
        for s in getattr(self, which):
            d = s.model_dump()
            d["seed"] = self.seed if d["seed"] is None else d["seed"]
            out.append(DataSpec(**d))
        return out


def load_train_config(path: str) -> TrainConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return TrainConfig.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")) or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
