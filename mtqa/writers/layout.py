"""What mtqa writes in an output folder, and under which names.

The safety rules (:mod:`mtqa.writers.safety`) recognise an mtqa output, and ``--overwrite``
deletes, by exactly these names: anything else in ``OUT`` is the user's.
"""

from __future__ import annotations

#: mtqa's state folder in OUT: the manifest, the shards of an unfinished job, the lock
STATE = ".mtqa"
#: the lock file's name inside STATE
LOCK = "lock"
TABLES = ("sentences", "articles")
FORMATS = ("parquet", "jsonl", "csv")
#: what mtqa writes at the top of OUT, and the temporary names it writes them under
OWN_FILES = ({"run.json", ".run.json.tmp", "report.html", "report.html.tmp"}
             | {f"{t}.{f}" for t in TABLES for f in FORMATS} | {f".{t}.{f}.tmp" for t in TABLES for f in FORMATS})
OWN_PATTERNS = (".mtqa-write-test-*",)
#: what ``datasets.save_to_disk`` (and a later ``map`` on the loaded dataset) writes in sentences/, articles/
DATASET_PATTERNS = ("*.arrow", "dataset_info.json", "state.json", "tmp*")
