"""Output: ``OUT/sentences`` and ``OUT/articles`` (``datasets`` folders), exports, ``run.json``.

The user's files are never at risk (checked before any model is loaded):

* ``OUT`` must not be the working directory or a folder above it, nor hold or be an input,
  and ``--overwrite`` only replaces mtqa's own previous output, deleting only its own files
  (:mod:`~mtqa.writers.safety`, names in :mod:`~mtqa.writers.layout`);
* one job at a time writes an ``OUT`` (:mod:`~mtqa.writers.lock`, ``flock`` on ``OUT/.mtqa/lock``);
* rows are written chunk by chunk as Arrow shards with a manifest, so a killed job resumes,
  and a chunk is resumed only if its input content is unchanged
  (:mod:`~mtqa.writers.shards`, :mod:`~mtqa.writers.manifest`);
* every file is written under a temporary name and renamed; a failed write (disk full,
  permissions) is one line naming the path, and the same command resumes
  (:mod:`~mtqa.writers.atomic`).

The names below are the package's interface; the modules are its parts.
"""

from __future__ import annotations

from mtqa.writers.atomic import read_arrow_dataset, save_arrow_dataset, save_dataset_atomic, write_failure, write_json_atomic
from mtqa.writers.export import export
from mtqa.writers.lock import OutputLock
from mtqa.writers.manifest import MANIFEST_VERSION, chunk_digest, job_key, read_manifest
from mtqa.writers.safety import check_output, check_target, clear_output, foreign_entries, is_mtqa_output
from mtqa.writers.schema import ARTICLE_FEATURES, TableSchema, sentence_features
from mtqa.writers.shards import DatasetFolders, ShardWriter

__all__ = [
    "ARTICLE_FEATURES",
    "DatasetFolders",
    "MANIFEST_VERSION",
    "OutputLock",
    "ShardWriter",
    "TableSchema",
    "check_output",
    "check_target",
    "chunk_digest",
    "clear_output",
    "export",
    "foreign_entries",
    "is_mtqa_output",
    "job_key",
    "read_arrow_dataset",
    "read_manifest",
    "save_arrow_dataset",
    "save_dataset_atomic",
    "sentence_features",
    "write_failure",
    "write_json_atomic",
]
