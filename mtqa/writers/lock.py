"""One job per output folder (:class:`OutputLock`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from mtqa.errors import OutputError
from mtqa.writers.layout import LOCK, STATE


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
    """`` (pid N)`` of the job holding the lock, as it wrote it into the lock file; "" if unreadable."""
    try:
        pid = int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return ""
    return f" (pid {pid})"
