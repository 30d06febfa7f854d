"""Job configuration: one validated model for YAML files and CLI flags alike.

Unknown keys and wrong types are errors, reported with the key's path before any
scoring starts. Every setting that can change a score enters the run signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mtqa.errors import ConfigError
from mtqa.models.embedded import DEFAULT_MODEL
from mtqa.signals.registry import DEFAULT_SIGNALS, check_names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Columns(_Strict):
    """Column names in table inputs (jsonl/csv/parquet/datasets)."""

    text: str = Field("text", description="column holding the text in table inputs")
    id: str = Field("id", description="column holding the article id")
    source: str = Field("source", description="column holding the source text (what was translated)")
    reference: str = Field("reference", description="column holding a reference translation")


class ModelSettings(_Strict):
    name: str = Field(DEFAULT_MODEL, description="embedded model name, local folder or Hugging Face id")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the model runs (auto: cuda when torch sees a GPU, else cpu)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="model precision (auto: bfloat16 on CUDA and on CPUs with native bf16, else float32)")
    batch_tokens: int = Field(4096, ge=64, description="padded tokens per forward pass at most")
    batch_size: int = Field(64, ge=1, description="sentences per forward pass at most")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")
    max_tokens: int = Field(512, ge=8, description="tokens scored per sentence; longer ones are truncated and marked")
    quantize: Literal["none", "int8"] = Field("none", description="int8: dynamic int8 quantisation of linear layers (CPU, float32)")


class ScoringSettings(_Strict):
    spike_z: float = Field(3.5, gt=0, description="a token is a surprisal spike when its robust z-score exceeds this")
    spike_min: float = Field(7.0, ge=0, description="... and its surprisal (nats) exceeds this")
    word_order_threshold: float = Field(5.0, gt=0, description="flag word_order when a reordering gains this much (normalised log-prob)")
    flag_quality: float = Field(0.5, ge=0, le=1, description="sentences below this quality get low_quality and count as flagged in aggregates")
    mt_prior: float = Field(0.5, gt=0, lt=1, description="share of machine-made text expected in the input: mt_probability "
                                                         "assumes this prior (0.5: equal priors, as the detector was fitted)")


class RaySettings(_Strict):
    """``engine: ray``: where the Ray cluster is and how many model actors score on it."""

    address: str | None = Field(None, description="Ray address (e.g. ray://head:10001 or auto); default: RAY_ADDRESS or a local instance")
    num_actors: int = Field(1, ge=1, description="model actors (one model each)")
    cpus_per_actor: float = Field(1, gt=0, description="CPUs Ray reserves for each model actor")
    gpus_per_actor: float = Field(0, ge=0, description="GPUs Ray reserves for each model actor (0: CPU only)")
    window: int = Field(256, ge=1, description="chunks handed to Ray at a time (bounds driver memory)")


class JobConfig(_Strict):
    inputs: list[str] = Field(default_factory=list, description=".txt/.jsonl/.csv/.tsv/.parquet files, datasets folders, "
                                                              "or folders of these")
    output: str | None = Field(None, description="output folder: new or empty (an unfinished job there with the same "
                                                "settings is resumed); never the working directory or a folder holding an input")
    overwrite: bool = Field(False, description="replace a previous mtqa output in the output folder (only mtqa's own "
                                               "files are deleted; a folder holding other files is refused)")
    unit: Literal["article", "segment"] = Field(
        "article", description="split texts into sentences (article) or keep each row whole (segment)")
    columns: Columns = Field(default_factory=Columns)
    model: ModelSettings = Field(default_factory=ModelSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    signals: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SIGNALS),
        description="signals to run, in order (lm is required); one left out writes none of its columns")
    formats: list[Literal["parquet", "jsonl", "csv"]] = Field(
        default_factory=list, description="also export both tables as OUT/sentences.FMT and OUT/articles.FMT "
                                          "(parquet, jsonl and/or csv)")
    articles_per_chunk: int = Field(32, ge=1, description="articles segmented and scored together")
    progress: bool = Field(True, description="show a progress bar on stderr")
    report: bool = Field(False, description="also write OUT/report.html (python -m mtqa report OUT)")
    engine: Literal["local", "ray"] = Field("local", description="local: this process; ray: Ray Data actors")
    workers: int = Field(1, ge=1, description="engine local: score chunks in this many processes, one model each "
                                             "(for a GPU or many cores: the signals' Python runs on one core per process); "
                                             "1: this process")
    ray: RaySettings = Field(default_factory=RaySettings)
    num_shards: int = Field(1, ge=1, description="split the job into this many deterministic parts (job arrays; join the outputs with `mtqa merge`)")
    shard_index: int = Field(0, ge=0, description="which part (0 to num_shards-1) this job scores")
    prefetch: int = Field(2, ge=0, description="chunks read and segmented ahead of the model in a thread (0: none)")
    summary_worst: int = Field(5, ge=0, description="worst sentences shown in the terminal summary")

    @field_validator("signals", mode="before")
    @classmethod
    def _signal_names(cls, v: Any) -> Any:
        """A comma list is a list; names are checked against the registry (one line, did-you-mean)."""
        from pydantic_core import PydanticCustomError

        if isinstance(v, str):
            v = [part.strip() for part in v.split(",") if part.strip()]
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            try:
                check_names(v)
            except ConfigError as exc:
                raise PydanticCustomError("signal_name", str(exc).removeprefix("signals: ")) from None
        return v

    @model_validator(mode="after")
    def _shard_in_range(self) -> "JobConfig":
        if self.shard_index >= self.num_shards:
            raise ValueError(f"shard_index {self.shard_index} must be below num_shards {self.num_shards}")
        return self

    @field_validator("formats", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        else:
            parts.append(f"'{key}': {e['msg']}")
    return "; ".join(parts)


def _set_path(data: dict, dotted: str, value: Any) -> None:
    node = data
    *head, last = dotted.split(".")
    for key in head:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{key}' must be a mapping to set '{dotted}'")
    node[last] = value


def _yaml_where(exc: yaml.YAMLError) -> str:
    """Where and what: ``at line 3, column 7: mapping values are not allowed here``.

    PyYAML's own message spans several lines and starts with the context ("while parsing a
    block mapping"); the line and column are what a user needs to find the mistake.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f": {problem}"
    text = f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line != mark.line:
        text += f" ({context} opened at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return text


def load_config(path: str | None, overrides: dict[str, Any] | None = None) -> JobConfig:
    """Read a YAML job file (optional), apply CLI overrides (dotted keys), validate."""
    data: dict[str, Any] = {}
    where = "command line"
    if path:
        where = path
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML{_yaml_where(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 (invalid byte at offset {exc.start}); save it as UTF-8") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a job config must be a mapping of keys to values")
        data = loaded
        # Relative paths in a config are relative to the directory mtqa is started from
        # (the project root, typically), as they would be on the command line.
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, key, value)
    try:
        return JobConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
