"""``tastemaker serve --workers 2``: two server processes on one port, for real.

The command runs as a subprocess on a small demo store (generated and trained in-process) with
its options on the command line only, so the processes uvicorn spawns must get them from the
parent; both must start (each logs its own start-up) and the port must answer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tastemaker.cli import app
from tests.live import free_port

pytestmark = pytest.mark.slow

STARTED = "Application startup complete."
STARTUP_TIMEOUT = 120.0
"""Generous: each process imports, loads the models and rebuilds the profiles on its own."""


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('workers') / 'demo.db'}"
    runner = CliRunner()
    for args in (("demo-data", "--users", "60", "--items", "60"), ("train",)):
        result = runner.invoke(app, ["--database-url", url, "--insecure-dev", *args])
        assert result.exit_code == 0, result.output
    return url


@contextlib.contextmanager
def serving(database: str, log: Path, workers: int, *options: str) -> Iterator[str]:
    """``python -m tastemaker … serve --workers N`` in its own process group; yields its URL
    once every process has started up (each says so in the log) and ``/readyz`` answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASTEMAKER_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tastemaker", "--database-url", database),
                *("--insecure-dev", "serve", "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers)),
                *options,
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if log.read_text(errors="replace").count(STARTED) == workers:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up; its log ends:\n{tail(log)}")
            time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def test_two_processes_answer_on_one_port(database: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serving(database, log, workers=2) as url, httpx.Client(base_url=url, timeout=30) as http:
        health = http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        # Each request on a new connection: either process may take it.
        for user in ("user-00001", "user-00002", "user-00003", "user-00004"):
            r = httpx.get(f"{url}/v1/users/{user}/recommendations", params={"k": 5}, timeout=30)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["user_id"] == user
            assert len(body["items"]) == 5
            assert body["fallback"] is None, body  # the trained models answered
        # Both processes started, each on its own (the command line reached them).
        started = {
            line.rsplit("[", 1)[1].rstrip("]")
            for line in log.read_text(errors="replace").splitlines()
            if "Started server process" in line
        }
        assert len(started) == 2, tail(log)
        assert '"GET /healthz HTTP/1.1" 200' in log.read_text(errors="replace"), tail(log)
    assert "Stopping parent process" in log.read_text(errors="replace"), tail(log)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_access_log_can_be_turned_off(database: str, tmp_path: Path, workers: int) -> None:
    log = tmp_path / "server.log"
    with serving(database, log, workers, "--no-access-log") as url:
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        r = httpx.get(f"{url}/v1/users/user-00001/recommendations", timeout=30)
        assert r.status_code == 200, r.text
        text = log.read_text(errors="replace")
    assert "GET /healthz" not in text, tail(log)
    assert "GET /v1/users/user-00001/recommendations" not in text, tail(log)
    assert text.count(STARTED) == workers, tail(log)
