"""A resident model server: ``mtqa serve`` keeps models loaded, ``mtqa score`` hands it its jobs.

Interactive use pays for start-up every time: importing torch and loading the model and its
tokenizer take about 2 s on a 2-core CPU (10-15 s before session 12) before the first sentence
is scored, for a job that then takes well under a second. ``mtqa serve`` pays once: it loads the default model
and listens on a Unix socket (``$MTQA_HOME/serve.sock``, or ``$MTQA_SERVER``). While it runs,
``mtqa score ...`` (the light command-line process: no torch, no datasets) sends its
arguments and working folder there and prints what comes back; the server runs *the same
command* (:func:`mtqa.cli.main`) with its loaded models, so outputs, messages, the summary and
the exit code are those of a local run.

What keeps the scores honest:

* the server refuses a job from a client whose mtqa code differs from its own
  (:func:`code_fingerprint`: the version and a hash of every module), and that client scores
  locally;
* a loaded model is reused only for jobs whose scoring settings (model, dtype, threads,
  signals, thresholds, unit: everything but the job-only keys in :data:`JOB_ONLY`) are equal;
  other settings load another model, as a local run would;
* jobs run one at a time (a second client waits), each in its own working folder.

``mtqa score --no-server`` always scores locally; a server that is gone (a stale socket)
is ignored. Interrupting the client closes the connection, which stops the job at its next
message (the output folder resumes as after any interruption).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import socket
import sys
from pathlib import Path
from typing import IO, Any

#: config keys that say what a job reads, writes and shows, not how sentences are scored:
#: jobs that differ only in these share a loaded model
JOB_ONLY = frozenset({"inputs", "output", "overwrite", "formats", "articles_per_chunk", "progress", "report",
                      "num_shards", "shard_index", "prefetch", "summary_worst", "engine", "workers", "ray", "columns"})

#: one request or reply line may not exceed this (a request is an argument list)
MAX_LINE = 1 << 20


def socket_path() -> Path:
    """``$MTQA_SERVER``, else ``$MTQA_HOME/serve.sock``."""
    env = os.environ.get("MTQA_SERVER")
    if env:
        return Path(env)
    from mtqa.models.embedded import mtqa_home

    return mtqa_home() / "serve.sock"


def code_fingerprint() -> str:
    """mtqa's version and a hash of every module of the installed package (a few ms)."""
    import mtqa

    root = Path(mtqa.__file__).parent
    h = hashlib.sha256(mtqa.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return f"{mtqa.__version__}:{h.hexdigest()[:16]}"


def model_key(config) -> str:
    """What a loaded scorer depends on: the config without its job-only keys."""
    return json.dumps(config.model_dump(mode="json", exclude=set(JOB_ONLY)), sort_keys=True)


# -- client ------------------------------------------------------------------------------


def run_remote(argv: list[str], *, timeout: float = 0.5) -> int | None:
    """Run ``mtqa <argv>`` in the resident server, if one listens; its exit code, or None when
    there is no server (or it refused the job): then the caller runs the command itself."""
    path = socket_path()
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.settimeout(None)
    except OSError:  # a stale socket (the server was killed), or not ours
        conn.close()
        return None
    request = {"argv": list(argv), "cwd": os.getcwd(), "code": code_fingerprint(), "tty": sys.stderr.isatty()}
    with conn, conn.makefile("rb") as replies:
        try:
            conn.sendall(json.dumps(request).encode() + b"\n")
            if not select.select([conn], [], [], 1.0)[0]:  # jobs run one at a time
                print(f"mtqa: the model server ({path}) is busy with another job; waiting "
                      "(or Ctrl-C and --no-server to score here)", file=sys.stderr, flush=True)
            for line in replies:
                msg = json.loads(line)
                if "refused" in msg:
                    print(f"mtqa: the model server ({path}) {msg['refused']}; scoring here instead",
                          file=sys.stderr, flush=True)
                    return None
                if "hello" in msg:
                    print(f"mtqa: scoring in the model server (pid {msg['hello']}, {path}; "
                          f"--no-server scores here)", file=sys.stderr, flush=True)
                for key, stream in (("out", sys.stdout), ("err", sys.stderr)):
                    if key in msg:
                        stream.write(msg[key])
                        stream.flush()
                if "exit" in msg:
                    return int(msg["exit"])
        except KeyboardInterrupt:
            print("mtqa: interrupted (the server stops the job; run the same command again to resume it)",
                  file=sys.stderr)
            return 130
        except (OSError, ValueError):
            pass
    print("mtqa: error: the model server closed the connection before the job ended (see its log); "
          "run the command again to resume", file=sys.stderr)
    return 1


# -- server ------------------------------------------------------------------------------


class _Stream:
    """A text stream that sends what is written to the client, as ``{"out": ...}`` lines."""

    def __init__(self, conn: socket.socket, key: str, tty: bool):
        self.conn, self.key, self.tty = conn, key, tty
        self.encoding = "utf-8"

    def write(self, text: str) -> int:
        if text:
            self.conn.sendall(json.dumps({self.key: text}).encode() + b"\n")
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    def fileno(self) -> int:  # no file behind it: libraries that need one must not get the socket's
        raise OSError("not a file")


class Server:
    """Loads models on demand (one per distinct :func:`model_key`) and runs ``mtqa score`` jobs."""

    def __init__(self, path: Path | None = None, log: IO[str] = sys.stderr):
        self.path = path or socket_path()
        self.log = log
        self.fingerprint = code_fingerprint()
        self.scorers: dict[str, Any] = {}  # model_key -> mtqa.api.QualityScorer
        self.jobs = 0
        self.threads: int | None = None  # torch's thread count before any model set its own

    def say(self, text: str) -> None:
        print(f"mtqa serve: {text}", file=self.log, flush=True)

    def engine(self, config, log):
        """The local engine for ``config`` (``mtqa score``'s engine factory while a job runs)."""
        return self.scorer(config, log).engine()

    def scorer(self, config, log):
        """The scorer for ``config``, loaded once per model key, torch set to the job's threads."""
        import torch

        from mtqa import api

        if self.threads is None:
            self.threads = torch.get_num_threads()
        key = model_key(config)
        if key not in self.scorers:
            self.scorers[key] = api.from_config(config, log=log)
        # torch's thread count is per process, and a model loaded with --threads N set it: each
        # job runs with its own (the last bits of the scores depend on it)
        torch.set_num_threads(config.model.threads or self.threads)
        return self.scorers[key]

    def preload(self) -> None:
        """Load the model a plain ``mtqa score FILE`` uses (default settings), and score one
        sentence with it: the first batch pays one-time costs (word-frequency tables, the
        language identifier, torch's kernel set-up) that the first job should not."""
        from mtqa.config import JobConfig

        scorer = self.scorer(JobConfig(), lambda m: self.say(m.removeprefix("mtqa: ")))
        scorer.score(["The council met on Monday to discuss the budget."])

    def bind(self) -> socket.socket:
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with probe:
                try:
                    probe.connect(str(self.path))
                except OSError:
                    self.path.unlink()  # stale: its server is gone
                else:
                    from mtqa.errors import ConfigError

                    raise ConfigError(f"a model server already listens on {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is the user's alone: it runs jobs as them
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(8)
        return sock

    def serve(self, preload: bool = True, max_jobs: int | None = None) -> None:
        import signal

        sock = self.bind()
        # `kill` (SIGTERM) stops the server as Ctrl-C does: through the finally below, which
        # removes the socket
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            if preload:
                self.preload()
            self.say(f"listening on {self.path} (pid {os.getpid()}; Ctrl-C stops)")
            while max_jobs is None or self.jobs < max_jobs:
                conn, _ = sock.accept()
                with conn:
                    self.handle(conn)
        finally:
            sock.close()
            with contextlib.suppress(OSError):
                self.path.unlink()

    def handle(self, conn: socket.socket) -> None:
        with conn.makefile("rb") as fh:
            line = fh.readline(MAX_LINE)
        try:
            req = json.loads(line)
            argv, cwd = [str(a) for a in req["argv"]], str(req["cwd"])
        except (ValueError, KeyError, TypeError):
            return
        reply = lambda **msg: conn.sendall(json.dumps(msg).encode() + b"\n")  # noqa: E731
        try:
            if req.get("code") != self.fingerprint:
                reply(refused=f"runs other mtqa code ({self.fingerprint}, this command {req.get('code')})")
                return
            if not argv or argv[0] != "score":
                reply(refused="runs `mtqa score` jobs only")
                return
            if not os.path.isdir(cwd):
                reply(refused=f"cannot enter the working folder {cwd}")
                return
            reply(hello=os.getpid())
            self.jobs += 1
            self.say(f"job {self.jobs}: mtqa {' '.join(argv)} (in {cwd})")
            reply(exit=self.run(argv, cwd, conn, bool(req.get("tty"))))
        except OSError:  # the client went away (Ctrl-C): the job stopped at its next message
            self.say(f"job {self.jobs}: the client disconnected")

    def run(self, argv: list[str], cwd: str, conn: socket.socket, tty: bool) -> int:
        from mtqa import cli
        from mtqa.commands import score

        here = os.getcwd()
        out, err = _Stream(conn, "out", tty), _Stream(conn, "err", tty)
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # type: ignore[type-var]
                score.ENGINE_FACTORY = self.engine
                try:
                    return cli.main(argv[:1] + ["--no-server"] + argv[1:])
                finally:
                    score.ENGINE_FACTORY = None
        finally:
            os.chdir(here)
