"""Rows written chunk by chunk as Arrow shards, resumable, then assembled into the final datasets.

Rows go to shard files under ``OUT/.mtqa/shards`` (each written to a temporary name and
renamed, so a shard on disk is always whole), recorded in ``OUT/.mtqa/manifest.json`` so a
killed job resumes; :meth:`ShardWriter.finish` streams the shards into the final
datasets' data files, so memory stays bounded however large the job. A chunk is resumed only if its
input content is unchanged (its hash is in the manifest); a failed write (disk full,
permissions) is one line naming the path, and the chunks already scored stay for the rerun.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.ipc as ipc

from mtqa.errors import OutputError
from mtqa.signals.base import Column
from mtqa.writers.atomic import read_arrow_dataset, save_arrow_dataset, write_failure, write_json_atomic
from mtqa.writers.export import export
from mtqa.writers.layout import STATE, TABLES
from mtqa.writers.manifest import MANIFEST_VERSION, read_manifest
from mtqa.writers.safety import clear_output, clear_state
from mtqa.writers.schema import ARTICLE_FEATURES, TableSchema, sentence_features


class ShardWriter:
    """Writes row chunks as Arrow shards with a manifest, and assembles the final datasets.

    Shard ``k`` holds the rows of input chunk ``k`` (chunks are deterministic: the readers
    always yield the same articles in the same order). Each shard is written to a temporary
    name and renamed, then the manifest ``OUT/.mtqa/manifest.json`` (also replaced
    atomically) records it with a hash of the chunk's input content: a chunk counts as done
    only once the manifest lists it with the same content, so a job killed at any point
    resumes where the manifest stops, every row is written once, and a chunk whose input was
    edited in between is scored again (never kept stale).

    Any OSError while writing (disk full, permissions) becomes one :class:`OutputError` line
    naming the path; the manifest still describes the chunks already written, so rerunning
    the same command resumes.
    """

    def __init__(self, out: Path, sentence_columns: Iterable[Column], overwrite: bool = False, *,
                 key: str | None = None, signature: str | None = None, resume: bool = False,
                 log: Callable[[str], None] | None = None):
        self.out = out
        self.sentence_features = sentence_features(sentence_columns)
        self.state = out / STATE
        self.shards = self.state / "shards"
        self.log = log or (lambda msg: None)
        self.seen: set[str] = set()  # chunks of this run's inputs (for dropping chunks that no longer exist)
        self.rescored: list[int] = []  # chunks whose input changed since the interrupted run
        self.manifest: dict = {"version": MANIFEST_VERSION, "key": key, "signature": signature, "chunks": {}}
        with self._writing(out):
            if overwrite and out.exists():
                clear_output(out)
            manifest = read_manifest(out) if resume else None
            if manifest is not None and signature is not None and manifest.get("signature") not in (None, signature):
                raise OutputError(f"{out}: holds an unfinished job scored with another model or library version "
                                  f"({manifest.get('signature')}); pass --overwrite to start again")
            if manifest is None:
                clear_state(self.state)  # a job killed before its first manifest: nothing to keep
            self.shards.mkdir(parents=True, exist_ok=True)
            self.manifest = manifest or self.manifest
            self.resumed = manifest is not None
            self.sentences_at_start = sum(c["sentences"] for c in self.done.values())
            self.tokens_at_start = sum(c.get("tokens", 0) for c in self.done.values())
            self._save_manifest()

    @contextlib.contextmanager
    def _writing(self, path: Path, finishing: bool = False) -> Iterator[None]:
        """Turn an OSError while writing ``path`` into one line that says what is kept and what to do."""
        try:
            yield
        except OutputError:
            raise
        except OSError as exc:
            n = len(self.done)
            if finishing:
                then = (f"Nothing already scored is lost: all {n} chunk(s) are kept in {self.state}; free some space "
                        f"(or fix the permissions) and run the same command again to finish the output.")
            else:
                then = (f"Nothing already scored is lost: the {n} chunk(s) done so far are kept in {self.state}; "
                        f"free some space (or fix the permissions) and run the same command again to resume.")
            raise write_failure(path, exc, then) from exc

    # chunks -----------------------------------------------------------------------------
    @property
    def done(self) -> dict[str, dict]:
        return self.manifest["chunks"]

    def is_done(self, k: int, digest: str) -> bool:
        """Is chunk ``k`` already written, from the same input content (``digest``: :func:`~mtqa.writers.manifest.chunk_digest`)?"""
        self.seen.add(str(k))
        entry = self.done.get(str(k))
        if entry is None:
            return False
        if entry.get("content") != digest:
            if not self.rescored:
                self.log(f"mtqa: the inputs changed since the interrupted run (chunk {k} first); "
                         f"changed chunks are scored again")
            self.rescored.append(k)
            return False
        return True

    def _save_manifest(self) -> None:
        path = self.state / "manifest.json"
        with self._writing(path):
            write_json_atomic(path, self.manifest)

    def _shard(self, kind: str, k: int) -> Path:
        return self.shards / f"{kind}-{k:08d}.arrow"

    def _write(self, rows: list[dict], features: TableSchema, final: Path) -> None:
        schema = features.arrow_schema
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        with self._writing(final):
            table = features.table(rows)
            try:
                with ipc.new_stream(str(tmp), schema) as writer:
                    writer.write_table(table)
                os.replace(tmp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)  # a full disk: do not leave half a shard taking space
                raise

    def write_chunk(self, sentence_rows: list[dict], article_rows: list[dict], *, k: int, digest: str,
                    extra: dict | None = None) -> None:
        """Write chunk ``k`` from input content ``digest`` and record it in the manifest (with ``extra``)."""
        if sentence_rows or article_rows:
            self._write(sentence_rows, self.sentence_features, self._shard("sentences", k))
            self._write(article_rows, ARTICLE_FEATURES, self._shard("articles", k))
        else:
            self._drop_shards(k)  # a rescored chunk that now has no rows: its old shards must go
        self.done[str(k)] = {"content": digest, "sentences": len(sentence_rows), "articles": len(article_rows),
                             **(extra or {})}
        self._save_manifest()

    def _drop_shards(self, k: int) -> None:
        for kind in TABLES:
            with self._writing(self._shard(kind, k)):
                self._shard(kind, k).unlink(missing_ok=True)

    def drop_unseen(self) -> list[int]:
        """Forget chunks of the interrupted run that this run's inputs no longer have (inputs shortened).

        Call only after every chunk of this run went through :meth:`is_done`.
        """
        gone = sorted(int(k) for k in self.done if k not in self.seen)
        for k in gone:
            self._drop_shards(k)
            del self.done[str(k)]
        if gone:
            self._save_manifest()
        return gone

    @property
    def n_shards(self) -> int:
        return len(self.done)

    # assembling -------------------------------------------------------------------------
    def _assemble(self, kind: str, schema: TableSchema, description: str) -> Path:
        """``OUT/kind``, the dataset folder of the shards, written without importing ``datasets``."""
        ks = sorted(int(k) for k, v in self.done.items() if v["sentences"] or v["articles"])
        # the shards are streamed, batch by batch, into one Arrow file that becomes the dataset's
        # data file: memory stays flat however many shards there are (concatenate_datasets
        # over thousands of shards kept ~175 KB of table objects per shard). No shard at all
        # (nothing to score) gives a valid empty dataset with the full schema.
        joined = self.state / f"{kind}-joined.arrow"
        tmp = joined.with_suffix(f".tmp{os.getpid()}")
        with self._writing(joined, finishing=True):
            with ipc.new_stream(str(tmp), schema.arrow_schema) as writer:
                for k in ks:
                    with pa.memory_map(str(self._shard(kind, k))) as source:
                        for batch in ipc.open_stream(source):
                            writer.write_batch(batch)
            os.replace(tmp, joined)
        with self._writing(self.out / kind, finishing=True):
            save_arrow_dataset(joined, self.out / kind, self.state, schema.to_dict(), description)
        return self.out / kind

    def finish(self, run_info: dict[str, Any], formats: list[str], description: str) -> "DatasetFolders":
        """Assemble the final datasets, exports and run.json; the datasets are loaded when first asked for."""
        folders = DatasetFolders({kind: self._assemble(kind, schema, description)
                                  for kind, schema in (("sentences", self.sentence_features),
                                                       ("articles", ARTICLE_FEATURES))})
        for fmt in formats:
            for kind in TABLES:
                path = self.out / f"{kind}.{fmt}"
                with self._writing(path, finishing=True):
                    export(folders[kind], path, fmt)
        with self._writing(self.out / "run.json", finishing=True):
            write_json_atomic(self.out / "run.json", run_info)
        clear_state(self.state)  # the lock (if any) goes when the job releases it
        with contextlib.suppress(OSError):
            self.state.rmdir()  # no lock held (a caller without OutputLock): leave no empty folder
        return folders


class DatasetFolders(Mapping[str, Any]):
    """The finished job's tables by name (``sentences``, ``articles``): ``datasets.Dataset`` s loaded
    (``load_from_disk``) when first asked for, so a caller that only reads them with pyarrow
    (:meth:`table`: the CLI's summary) never imports ``datasets``."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, kind: str):
        if kind not in self._loaded:
            import datasets

            self._loaded[kind] = datasets.load_from_disk(str(self.folders[kind]))
        return self._loaded[kind]

    def __iter__(self):
        return iter(self.folders)

    def __len__(self) -> int:
        return len(self.folders)

    def table(self, kind: str):
        """The rows of ``kind`` as a memory-mapped ``pyarrow.Table``."""
        return read_arrow_dataset(self.folders[kind])
