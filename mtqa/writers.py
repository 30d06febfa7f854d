"""Output: ``OUT/sentences`` and ``OUT/articles`` (``datasets`` folders), exports, ``run.json``.

Rows are written chunk by chunk to Arrow shard files under ``OUT/.mtqa/shards`` (each shard
written to a temporary name and renamed, so a shard on disk is always whole), recorded in
``OUT/.mtqa/manifest.json`` so a killed job resumes; ``finish``
memory-maps the shards into the final datasets, so memory stays bounded however large the
job.

The user's files are never at risk (checked before any model is loaded):

* ``OUT`` must not be the working directory or a folder above it, nor hold or be an input;
* ``--overwrite`` only replaces a folder that is recognisably an mtqa output (its
  ``.mtqa/manifest.json``, or a ``run.json`` written by mtqa next to ``sentences/`` or
  ``articles/``) holding nothing but mtqa's own files, and deletes only those files;
* one job at a time writes an ``OUT`` (:class:`OutputLock`, ``flock`` on ``OUT/.mtqa/lock``);
* a chunk is resumed only if its input content is unchanged (its hash is in the manifest);
* a failed write (disk full, permissions) is one line naming the path; the chunks already
  scored stay in ``OUT/.mtqa`` and the same command resumes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.ipc as ipc
from datasets import Features, List, Value

from mtqa.errors import OutputError
from mtqa.signals.base import Column

_DTYPES = {"float32": Value("float32"), "int32": Value("int32"), "string": Value("string"), "bool": Value("bool")}

SPAN = {"start": Value("int32"), "end": Value("int32"), "label": Value("string"), "score": Value("float32"), "note": Value("string")}

SENTENCE_BASE = {
    "article_id": Value("string"),
    "sentence_id": Value("int32"),
    "paragraph_id": Value("int32"),
    "start": Value("int32"),
    "end": Value("int32"),
    "text": Value("string"),
    "quality": Value("float32"),
    "mt_probability": Value("float32"),
    "flags": List(Value("string")),
    "spans": List(SPAN),
}

ARTICLE_FEATURES = Features({
    "article_id": Value("string"),
    "origin": Value("string"),
    "n_sentences": Value("int32"),
    "quality": Value("float32"),
    "mt_probability": Value("float32"),
    "mt_evidence": Value("string"),
    "language": Value("string"),
    "flagged_share": Value("float32"),
    "worst_sentence_id": Value("int32"),
    "text": Value("string"),
})


def sentence_features(columns: Iterable[Column]) -> Features:
    feats = dict(SENTENCE_BASE)
    for c in columns:
        feats[c.name] = _DTYPES[c.dtype]
    return Features(feats)


# 2: chunks record a hash of their input content ("content"), not only their ids
MANIFEST_VERSION = 2

STATE = ".mtqa"
LOCK = "lock"
TABLES = ("sentences", "articles")
FORMATS = ("parquet", "jsonl", "csv")
# what mtqa writes at the top of OUT, and the temporary names it writes them under
_OWN_FILES = ({"run.json", ".run.json.tmp", "report.html", "report.html.tmp"}
              | {f"{t}.{f}" for t in TABLES for f in FORMATS} | {f".{t}.{f}.tmp" for t in TABLES for f in FORMATS})
_OWN_PATTERNS = (".mtqa-write-test-*",)
# what ``datasets.save_to_disk`` (and a later ``map`` on the loaded dataset) writes in sentences/, articles/
_DATASET_PATTERNS = ("*.arrow", "dataset_info.json", "state.json", "tmp*")


def job_key(config_dump: dict) -> str:
    """What must match for an unfinished OUT to be resumed: the config minus where/how it is shown."""
    keep = {k: v for k, v in config_dump.items() if k not in ("output", "overwrite", "progress", "summary_worst", "report")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(out: Path) -> dict | None:
    path = out / STATE / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("chunks"), dict) else None


def _read_run_json(out: Path) -> dict | None:
    try:
        data = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- what may be replaced -----------------------------------------------------------------
def _plain(p: Path, kind: str) -> bool:
    """A real file or folder (a symlink is never mtqa's: deleting through it could reach anything)."""
    return not p.is_symlink() and (p.is_dir() if kind == "dir" else p.is_file())


def foreign_entries(out: Path) -> list[str]:
    """Entries of ``out`` that mtqa does not write (relative names, sorted); [] for a pure mtqa output."""
    found = []
    for p in sorted(out.iterdir()):
        name = p.name
        if name == STATE and _plain(p, "dir"):
            continue  # mtqa's own state folder: its name is mtqa's
        if name in TABLES and _plain(p, "dir"):
            found.extend(f"{name}/{q.name}" for q in sorted(p.iterdir())
                         if not (_plain(q, "file") and any(fnmatch.fnmatchcase(q.name, pat) for pat in _DATASET_PATTERNS)))
            continue
        if _plain(p, "file") and (name in _OWN_FILES or any(fnmatch.fnmatchcase(name, pat) for pat in _OWN_PATTERNS)):
            continue
        found.append(name + ("/" if p.is_dir() else ""))
    return found


def is_mtqa_output(out: Path) -> bool:
    """Recognisably written by mtqa: an unfinished job (``.mtqa/``) or a finished one (mtqa's run.json + datasets)."""
    if read_manifest(out) is not None or _plain(out / STATE, "dir"):
        return True
    info = _read_run_json(out)
    return (info is not None and "mtqa_version" in info and "signature" in info
            and any(_plain(out / t, "dir") for t in TABLES))


def check_target(out: Path, inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False) -> None:
    """Refuse an output folder that would put the user's files at risk. Reads only; runs before the model loads.

    Refused: the working directory or a folder above it; a folder that is or contains an
    input; a file; an existing folder that is not an mtqa output or holds anything mtqa did
    not write (with or without ``--overwrite``: overwrite only ever replaces mtqa's own output).
    """
    where = out.resolve()
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was removed: nothing there to protect
        cwd = None
    if cwd is not None and (where == cwd or where in cwd.parents):
        above = "" if where == cwd else " (or a folder above it)"
        raise OutputError(f"{out}: is the working directory{above}; write the output to a new folder, e.g. -o out/NAME")
    for raw in inputs:
        p = Path(raw).resolve()
        if p == where or where in p.parents:
            raise OutputError(f"{out}: {'is' if p == where else 'contains'} the input {raw}; "
                              f"write the output to a folder outside the inputs")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    foreign = foreign_entries(out)
    if foreign or not is_mtqa_output(out):
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            what = f"holds files mtqa did not write ({shown})"
        else:
            what = "is not an mtqa output (no run.json or .mtqa/manifest.json written by mtqa)"
        if overwrite:
            raise OutputError(f"{out}: {what}; --overwrite only replaces a previous mtqa output and its own files: "
                              f"choose another -o")
        raise OutputError(f"{out}: output folder exists and {what}; choose another -o (mtqa writes into a new or "
                          f"empty folder, or replaces its own previous output with --overwrite)")


def check_output(out: Path, overwrite: bool, key: str | None = None,
                 inputs: Sequence[str | os.PathLike] = ()) -> bool:
    """Fail early (before loading a model) if ``out`` cannot be used; see :func:`check_target`.

    Returns True when ``out`` holds an unfinished job with the same settings (``key``), which
    the caller then resumes. An unfinished job with other settings, or a finished one, is
    refused unless ``overwrite``. Call it again once :class:`OutputLock` is held: only then
    is the answer safe from a job running next door.
    """
    check_target(out, inputs, overwrite)
    resume = False
    if out.exists() and not overwrite:
        manifest = read_manifest(out)
        if manifest is not None:
            if manifest.get("version") != MANIFEST_VERSION:
                raise OutputError(f"{out}: holds an unfinished job from another mtqa version; pass --overwrite to "
                                  f"start it again, or choose another -o")
            if manifest.get("key") != key:
                raise OutputError(f"{out}: holds an unfinished job with other settings; rerun it with the same settings to "
                                  f"resume it, pass --overwrite to replace it, or choose another -o")
            resume = True
        elif any(p.name != STATE for p in out.iterdir()):
            raise OutputError(f"{out}: output folder exists (a finished mtqa output); pass --overwrite to replace it "
                              f"(or choose another -o)")
    probe_dir = out if out.exists() else out.parent
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".mtqa-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror or exc})") from None
    return resume


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def clear_output(out: Path) -> None:
    """``--overwrite``: delete a previous mtqa output's own files in ``out``; never the folder, never the live lock.

    Checks again that nothing foreign is there (the caller checked before loading the model;
    this runs under the lock, just before deleting).
    """
    foreign = foreign_entries(out)
    if foreign:
        raise OutputError(f"{out}: holds files mtqa did not write ({', '.join(foreign[:3])}); --overwrite only replaces "
                          f"a previous mtqa output: choose another -o")
    for p in out.iterdir():
        if p.name == STATE:
            _clear_state(p)
        else:
            _remove(p)


def _clear_state(state: Path) -> None:
    """Empty ``OUT/.mtqa`` except the lock file of the job running now."""
    if not state.is_dir():
        return
    for q in state.iterdir():
        if q.name != LOCK:
            _remove(q)


# -- one job per output ---------------------------------------------------------------------
class OutputLock:
    """One job per output folder: an exclusive ``flock`` on ``OUT/.mtqa/lock`` for the whole job.

    A flock belongs to the open file, so the kernel drops it when the process dies, even on
    ``kill -9``: a lock file left behind never blocks the next job. The holder removes the
    lock file (while still holding it) when it releases; a job that locked a file that was
    removed meanwhile sees that the path no longer names the file it holds, and starts over
    on the new one. ``release`` also removes ``OUT/.mtqa`` and ``OUT`` when this job created
    them and left nothing in them (a refused or failed job leaves no stub behind).
    """

    def __init__(self, out: Path):
        self.out = out
        self.path = out / STATE / LOCK
        self.fd: int | None = None
        self.warning: str | None = None
        self._made_out = False

    def acquire(self) -> "OutputLock":
        self._made_out = not self.out.exists()
        for _ in range(50):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"{self.out}: cannot write there ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(fd)
                os.close(fd)
                raise OutputError(f"{self.out}: another mtqa job{holder} is writing this output folder; wait for it to "
                                  f"finish, or choose another -o") from None
            except OSError as exc:  # a filesystem without locks (some network mounts): go on, say so
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    os.close(fd)
                    raise OutputError(f"{self.out}: cannot lock the output folder ({exc.strerror or exc})") from None
                self.warning = (f"mtqa: warning: {self.out}: this filesystem does not support locks; make sure no "
                                f"other job writes to this folder")
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and our lock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return self
        raise OutputError(f"{self.out}: cannot lock the output folder (its lock file keeps being replaced)")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
            self.path.parent.rmdir()  # only when empty: an unfinished job's manifest stays
        if self._made_out:
            with contextlib.suppress(OSError):
                self.out.rmdir()  # only when empty: this job wrote nothing
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_holder(fd: int) -> str:
    try:
        pid = int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return ""
    return f" (pid {pid})"


# -- failed writes ----------------------------------------------------------------------------
def write_failure(path: Path | str, exc: OSError, then: str) -> OutputError:
    """One line for a write that failed (disk full, permissions): which path, why, and what now."""
    where = exc.filename or path
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC or "No space left" in reason:
        reason = "no space left on device"
    return OutputError(f"cannot write {where}: {reason}. {then}")


def chunk_digest(articles: Iterable[Any]) -> str:
    """A hash of everything a chunk's rows are computed from: each article's id, origin, text, source, reference.

    Resuming compares it with the manifest, so a chunk whose input was edited after the
    interrupted run is scored again instead of keeping stale rows.
    """
    h = hashlib.sha256()
    for a in articles:
        for value in (a.article_id, a.origin, a.text, a.source, a.reference):
            data = b"\xff" if value is None else value.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()[:32]


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
                _clear_state(self.state)  # a job killed before its first manifest: nothing to keep
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
        """Is chunk ``k`` already written, from the same input content (``digest``: :func:`chunk_digest`)?"""
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

    def _write(self, rows: list[dict], features: Features, final: Path) -> None:
        schema = features.arrow_schema
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        with self._writing(final):
            table = pa.Table.from_pylist(rows, schema=schema)
            try:
                with ipc.new_stream(str(tmp), schema) as writer:
                    writer.write_table(table)
                os.replace(tmp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)  # a full disk: do not leave half a shard taking space
                raise

    def write_chunk(self, sentence_rows: list[dict], article_rows: list[dict], *, k: int | None = None,
                    digest: str | None = None, extra: dict | None = None) -> None:
        """Write chunk ``k`` (default: the next one) and record it in the manifest."""
        if k is None:
            k = max((int(x) for x in self.done), default=-1) + 1
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
    def _assemble(self, kind: str, features: Features, description: str):
        import datasets

        ks = sorted(int(k) for k, v in self.done.items() if v["sentences"] or v["articles"])
        # the shards are streamed, batch by batch, into one Arrow file that the dataset then
        # memory-maps: memory stays flat however many shards there are (concatenate_datasets
        # over thousands of shards kept ~175 KB of table objects per shard). No shard at all
        # (nothing to score) gives a valid empty dataset with the full schema.
        joined = self.state / f"{kind}-joined.arrow"
        tmp = joined.with_suffix(f".tmp{os.getpid()}")
        with self._writing(joined, finishing=True):
            with ipc.new_stream(str(tmp), features.arrow_schema) as writer:
                for k in ks:
                    with pa.memory_map(str(self._shard(kind, k))) as source:
                        for batch in ipc.open_stream(source):
                            writer.write_batch(batch)
            os.replace(tmp, joined)
        ds = datasets.Dataset.from_file(str(joined))
        ds.info.description = description
        with self._writing(self.out / kind, finishing=True):
            save_dataset_atomic(ds, self.out / kind, self.state)
        return datasets.load_from_disk(str(self.out / kind))

    def finish(self, run_info: dict[str, Any], formats: list[str], description: str) -> dict[str, Any]:
        sentences = self._assemble("sentences", self.sentence_features, description)
        articles = self._assemble("articles", ARTICLE_FEATURES, description)
        for fmt in formats:
            for kind, ds in (("sentences", sentences), ("articles", articles)):
                path = self.out / f"{kind}.{fmt}"
                with self._writing(path, finishing=True):
                    export(ds, path, fmt)
        with self._writing(self.out / "run.json", finishing=True):
            write_json_atomic(self.out / "run.json", run_info)
        _clear_state(self.state)  # the lock (if any) goes when the job releases it
        with contextlib.suppress(OSError):
            self.state.rmdir()  # no lock held (a caller without OutputLock): leave no empty folder
        return {"sentences": sentences, "articles": articles}


def save_dataset_atomic(ds, final: Path, scratch: Path) -> None:
    """``save_to_disk`` into a scratch folder, then swap it in (a kill leaves the old or the new).

    An empty dataset is saved as one (empty) shard: ``datasets`` otherwise writes no data file
    at all, and ``load_from_disk`` fails on the folder.
    """
    tmp = scratch / f"tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp), **({"num_shards": 1} if len(ds) == 0 else {}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def export(ds, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _export(ds, tmp, fmt)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _export(ds, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        ds.to_parquet(str(path))
    elif fmt == "jsonl":
        ds.to_json(str(path), lines=True, force_ascii=False)
    elif fmt == "csv":
        # CSV cannot hold lists of structs: flags and spans become JSON strings
        flat = ds.map(lambda r: {"flags": json.dumps(r["flags"]), "spans": json.dumps(r["spans"], ensure_ascii=False)}
                      if "spans" in r else {}, features=None) if "spans" in ds.column_names else ds
        flat.to_csv(str(path), index=False)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
