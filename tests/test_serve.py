"""``mtqa serve``: jobs sent by ``mtqa score`` run in the resident process, with a local run's results."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from mtqa.config import JobConfig
from mtqa.serve import JOB_ONLY, code_fingerprint, model_key, run_remote
from tests.conftest import DATA, ROOT, fresh_python


def test_job_only_settings_share_a_model_and_scoring_settings_do_not():
    base = JobConfig(inputs=["a.txt"], output="out")
    assert model_key(base) == model_key(JobConfig(inputs=["b.txt"], output="other", formats=["csv"], progress=False))
    assert model_key(base) != model_key(JobConfig(model={"dtype": "bfloat16"}))
    assert model_key(base) != model_key(JobConfig(unit="segment"))
    assert model_key(base) != model_key(JobConfig(scoring={"flag_quality": 0.4}))
    assert JOB_ONLY <= set(JobConfig.model_fields), "a job-only key that the config does not have"


def test_no_server_or_a_stale_socket_means_score_here(tmp_path, monkeypatch):
    monkeypatch.setenv("MTQA_SERVER", str(tmp_path / "absent.sock"))
    assert run_remote(["score", "x.txt"]) is None
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # the file stays, nobody listens: a server killed with -9
    monkeypatch.setenv("MTQA_SERVER", str(stale))
    assert run_remote(["score", "x.txt"]) is None


def test_the_client_waits_for_a_busy_server_and_relays_its_job(tmp_path, monkeypatch, capsys):
    """A stand-in server that answers after 1.5 s (busy with another job), then relays output
    and an exit code: the client says it waits, prints both streams and returns the code."""
    import threading

    path = tmp_path / "s.sock"
    monkeypatch.setenv("MTQA_SERVER", str(path))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    seen = {}

    def serve_one():
        conn, _ = listener.accept()
        with conn:
            seen.update(json.loads(conn.makefile("rb").readline()))
            time.sleep(1.5)
            for msg in ({"hello": 4242}, {"out": "summary line\n"}, {"err": "mtqa: warning: x\n"}, {"exit": 1}):
                conn.sendall(json.dumps(msg).encode() + b"\n")

    t = threading.Thread(target=serve_one)
    t.start()
    try:
        assert run_remote(["score", "in.txt", "-o", "out"]) == 1
    finally:
        t.join(10)
        listener.close()
    out, err = capsys.readouterr()
    assert out == "summary line\n"
    assert "busy with another job" in err and "pid 4242" in err and "mtqa: warning: x" in err
    assert seen["argv"] == ["score", "in.txt", "-o", "out"] and seen["cwd"] == os.getcwd()
    assert seen["code"] == code_fingerprint()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``mtqa serve`` (default model, preloaded) on a socket of its own."""
    tmp = tmp_path_factory.mktemp("serve")
    env = dict(os.environ, MTQA_SERVER=str(tmp / "serve.sock"), PYTHONUNBUFFERED="1")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mtqa", "serve"], stderr=log, cwd=ROOT, env=env)
    deadline = time.time() + 600
    while "listening on" not in (tmp / "server.log").read_text():
        assert proc.poll() is None, (tmp / "server.log").read_text()
        assert time.time() < deadline, "mtqa serve did not start listening within 600 s"
        time.sleep(0.5)
    yield env, tmp / "server.log"
    proc.send_signal(signal.SIGTERM)  # `kill`: stops as Ctrl-C does, and removes the socket
    proc.wait(timeout=120)
    log.close()
    assert not (tmp / "serve.sock").exists(), "the server left its socket behind"


def _score(env, *args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "mtqa", "score", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)


def test_a_served_job_equals_a_local_one_and_reuses_the_model(server, tmp_path):
    env, log = server
    # relative paths: the job runs in the client's working folder
    (tmp_path / "in.txt").write_text((DATA / "sample-mt-article.txt").read_text(encoding="utf-8"), encoding="utf-8")
    served = _score(env, "in.txt", "-o", "served", cwd=tmp_path)
    assert served.returncode == 0, served.stderr
    assert "scoring in the model server" in served.stderr
    assert "Output:" in served.stdout and "Worst" in served.stdout  # the summary comes back
    again = _score(env, "in.txt", "-o", "again", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and "scoring in the model server" in again.stderr
    local = _score(env, "in.txt", "-o", "local", "--no-server", cwd=tmp_path)
    assert local.returncode == 0 and "model server" not in local.stderr
    tables = {name: datasets.load_from_disk(str(tmp_path / name / "sentences")) for name in ("served", "again", "local")}
    for col in ("text", "quality", "flags", "mt_probability", "word_order_score", "slor"):
        assert tables["served"][col] == tables["local"][col] == tables["again"][col], col
    runs = {name: json.loads((tmp_path / name / "run.json").read_text()) for name in ("served", "local")}
    assert runs["served"]["signature"] == runs["local"]["signature"]
    assert runs["served"]["timings"]["load_model_s"] < 1.0  # loaded once, when the server started
    assert log.read_text().count("loading gemma-3-270m") == 1


def test_errors_and_exit_codes_come_back(server, tmp_path):
    env, _ = server
    missing = _score(env, str(tmp_path / "nope.txt"), "-o", str(tmp_path / "out"))
    assert missing.returncode != 0
    assert "scoring in the model server" in missing.stderr and "nope.txt" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_other_mtqa_code_is_refused(server):
    env, _ = server
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(env["MTQA_SERVER"])
    with conn, conn.makefile("rb") as replies:
        conn.sendall(json.dumps({"argv": ["score", "x.txt"], "cwd": str(ROOT), "code": "0.0:other"}).encode() + b"\n")
        reply = json.loads(replies.readline())
    assert "refused" in reply and code_fingerprint() in reply["refused"]


def test_score_help_does_not_import_the_model_stack():
    """The client side (``mtqa score`` deciding to use a server) stays light."""
    code = ("import sys; from mtqa.serve import run_remote, socket_path; socket_path(); "
            "assert not {'torch', 'datasets', 'transformers'} & set(sys.modules), sorted(sys.modules)")
    fresh_python(code)


def test_the_socket_is_private(server):
    env, _ = server
    assert oct(Path(env["MTQA_SERVER"]).stat().st_mode & 0o777) == "0o600"
