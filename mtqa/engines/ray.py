"""``engine: ray``: score chunks on Ray Data, one model per actor.

The driver (the ``mtqa score`` process) reads and segments the inputs exactly as the local
engine does and numbers the chunks; Ray Data's ``map_batches`` hands each chunk to an actor
of a pool (``ray.num_actors`` actors, each loading the model once); the driver writes the
scored chunks through the same :class:`mtqa.writers.ShardWriter`, so the output folder,
manifest, resume and shard behaviour are those of a local run, and the numbers are the
same (each chunk is scored on its own, with the LM cache cleared).

Chunks go to Ray ``ray.window`` at a time, so the driver never holds the whole corpus.

Point it at a cluster with ``ray.address`` (``ray://head:10001``, or ``auto`` on a cluster
node) or the ``RAY_ADDRESS`` environment variable; without either, a local Ray instance is
started. Workers need mtqa installed and the model reachable (an embedded model is fetched
into each node's cache on first use; a shared folder path works too).
"""

from __future__ import annotations

import os
import pickle
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from mtqa.config import JobConfig
from mtqa.engines import Chunk, ChunkStep, Scored
from mtqa.errors import MtqaError


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise MtqaError("engine: ray needs Ray: pip install 'ray[data]'") from None
    return ray


class ChunkScorer:
    """A Ray Data actor: builds the Scorer once, then scores one chunk per row."""

    def __init__(self, config: dict):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from mtqa.scorer import Scorer

        self.scorer = Scorer.build(JobConfig.model_validate(config), log=lambda msg: None)
        self.signature = self.scorer.signature()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for payload in batch["payload"]:
            articles = pickle.loads(payload)
            rows = self.scorer.score_chunk(articles) if articles else ([], [])
            out.append(pickle.dumps((self.signature, rows)))
        return {"k": np.asarray(batch["k"]), "result": np.array(out, dtype=object)}


def _describe(config: dict) -> dict[str, Any]:
    from mtqa.scorer import Scorer

    return Scorer.build(JobConfig.model_validate(config), log=lambda msg: None).describe()


class RayEngine:
    """Chunks go to a pool of Ray actors; progress moves per scored chunk (actors report nothing within one)."""

    def __init__(self, config: JobConfig, log: Callable[[str], None] = print):
        self.ray = _import_ray()
        self.config = config
        self.dump = config.model_dump(mode="json")
        r = config.ray
        self._started = False
        if not self.ray.is_initialized():
            address = r.address or os.environ.get("RAY_ADDRESS")
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            kwargs["runtime_env"] = {"env_vars": {"TOKENIZERS_PARALLELISM": "false"}}
            self.ray.init(**kwargs)
            self._started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        try:
            ctx.execution_options.preserve_order = False
        except AttributeError:  # pragma: no cover
            pass
        self.resources = {"num_cpus": r.cpus_per_actor, "num_gpus": r.gpus_per_actor}
        describe = self.ray.remote(**self.resources)(_describe)
        self.info = self.ray.get(describe.remote(self.dump))
        log(f"mtqa: scoring on Ray ({self.ray.cluster_resources().get('CPU', 0):.0f} CPUs, "
            f"{r.num_actors} actor(s))")

    def describe(self) -> dict[str, Any]:
        return self.info

    def run(self, todo: Iterable[Chunk], on_step: ChunkStep | None = None) -> Iterator[Scored]:
        pending = (c for c in todo if not c.done)
        while window := list(islice(pending, self.config.ray.window)):
            by_k = {c.k: c for c in window}
            items = [{"k": c.k, "payload": pickle.dumps(c.articles)} for c in window]
            ds = self.ray.data.from_items(items, override_num_blocks=len(items))
            scored = ds.map_batches(
                ChunkScorer, fn_constructor_kwargs={"config": self.dump}, batch_size=1, batch_format="numpy",
                concurrency=min(self.config.ray.num_actors, len(items)), **self.resources)
            for row in scored.iter_rows():
                signature, (sentence_rows, article_rows) = pickle.loads(row["result"])
                if signature != self.info["signature"]:
                    raise MtqaError(f"a Ray worker scored with another setup ({signature}); "
                                    f"expected {self.info['signature']}: install the same mtqa, torch and model everywhere")
                yield by_k[int(row["k"])], sentence_rows, article_rows

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
