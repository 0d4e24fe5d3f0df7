"""A `tiss ui` server and `tiss run` processes for the UI tests (HTTP and browser)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from runtime.journal import list_runs
from tests.waiting import wait_for

TISS = [sys.executable, "-m", "runtime.cli"]


def kill_started() -> None:
    """A failed test must not leave a run waiting for an answer forever."""
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


class UI:
    """A `tiss ui --port 0` process and its printed URL."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.log = workspace.parent / f"ui-{workspace.name}.out"
        self.process = subprocess.Popen([*TISS, "ui", "--port", "0", "--workspace", str(workspace)],
                                        stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.url = wait_for(lambda: re.search(r"http://\S+", self.log.read_text()), "tiss ui's URL").group(0)
        parts = urllib.parse.urlsplit(self.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = urllib.parse.parse_qs(parts.query)["token"][0]

    def request(self, path: str, data: dict | None = None, token: str | None = None):
        """(status, body) of GET (or POST with ``data``) ``path``; redirects followed."""
        query = "" if token == "" else "?token=" + urllib.parse.quote(self.token if token is None else token)
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with urllib.request.urlopen(self.base + path + query, data=body, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def state(self, run_id: str) -> dict:
        status, body = self.request(f"/runs/{run_id}/state")
        assert status == 200, body
        return json.loads(body)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)


STARTED: list[subprocess.Popen] = []   # runs a test started: killed at its end


def start_run(workspace: Path, review: str = "ui", stdin=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    before = {folder.run_id for folder in list_runs(workspace)}
    process = subprocess.Popen([*TISS, "run", "plan.tiss", "--sandbox", "host", "--review", review],
                               cwd=workspace, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED.append(process)
    new = wait_for(lambda: {f.run_id for f in list_runs(workspace)} - before, "the run's folder")
    return process, new.pop()
