"""One job per output folder (:mod:`mtqa.writers.lock`), on real folders and file locks."""

from __future__ import annotations

import pytest

from mtqa.errors import OutputError
from mtqa.writers import OutputLock


def test_one_lock_per_output(tmp_path):
    out = tmp_path / "out"
    first = OutputLock(out).acquire()
    try:
        assert (out / ".mtqa" / "lock").read_text().strip().isdigit()
        # flock locks belong to the open file: a second open in this very process conflicts too
        with pytest.raises(OutputError, match=r"another mtqa job \(pid \d+\) is writing"):
            OutputLock(out).acquire()
    finally:
        first.release()
    assert not out.exists()  # created by the lock, nothing written: no stub left
    with OutputLock(out):
        pass


def test_lock_survives_the_previous_holder_removing_its_file(tmp_path):
    """A job that opened the lock file just before its holder removed it must not think it holds the lock."""
    import fcntl
    import os

    out = tmp_path / "out"
    (out / ".mtqa").mkdir(parents=True)
    stale = os.open(out / ".mtqa" / "lock", os.O_RDWR | os.O_CREAT)
    (out / ".mtqa" / "lock").unlink()  # the previous holder released and removed it
    fcntl.flock(stale, fcntl.LOCK_EX)  # someone locks the removed file
    try:
        with OutputLock(out) as lock:  # locks the live file, not the removed one
            assert os.stat(lock.path).st_ino == os.fstat(lock.fd).st_ino
            with pytest.raises(OutputError, match="another mtqa job"):
                OutputLock(out).acquire()
    finally:
        os.close(stale)
