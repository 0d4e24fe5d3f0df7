"""A plan's READ and WRITE raced by its own sandboxed command.

The attack: one PARALLEL branch swaps a workspace file between a regular
file and a symlink to a host file, a fixed number of times; the other READs
(or APPENDs to) that file again and again until the swapper is done. A
runtime that checks the path and then opens it by name again loses this race
within a few hundred attempts (the test fails against it); ``paths.Workspace``
never opens by name after a check, so no attempt may reach the host file.
Bounded by counts: SWAPS swaps, at most MAX_ATTEMPTS uses of the file.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from runtime import run_plan

from .conftest import require_backend

SWAPS = 1000
MAX_ATTEMPTS = 50000
SECRET = "HOST-SECRET-d41d8cd9"

SWAPPER = """\
RUN <<PYTHON
import os
for _ in range({swaps}):
    with open("f.new", "w") as new:
        new.write("decoy\\n")
    os.replace("f.new", "f.txt")
    os.symlink("{target}", "f.lnk")
    os.replace("f.lnk", "f.txt")
open("swapped", "w").close()
PYTHON"""

# Each attempt uses the file once; the loop ends when the swapper has
# finished (or, for READ, when the host file's text came through).
READER = """\
TRY {
  READ "f.txt" AS got
} CATCH {
  VAR got = "refused"
}
ASSERT got CONTAINS "HOST-SECRET" OR FILE "swapped" EXISTS"""

WRITER = """\
TRY {
  APPEND "f.txt" "written by the plan\\n"
} CATCH {
  LOG "refused"
}
ASSERT FILE "swapped" EXISTS"""


def _race(kind, workspace, victim, body):
    require_backend(kind)
    plan = textwrap.dedent("""\
        TASK "race the runtime" {
          STEP "race" {
            PARALLEL {
        %s
              STEP "use the file" {
                RUN "while [ ! -e f.txt ]; do sleep 0.01; done" TIMEOUT 60s
                RETRY %d {
        %s
                }
              }
            }
          }
        }
        """) % (textwrap.indent(SWAPPER.format(swaps=SWAPS, target=victim), " " * 6),
                MAX_ATTEMPTS, textwrap.indent(body, " " * 10))
    outcome = run_plan(plan, workspace, sandbox=kind, review="approve")
    journal = "".join(p.read_text(errors="replace") for p in outcome.journal.rglob("*") if p.is_file())
    return outcome, journal


@pytest.mark.parametrize("kind", ["docker", "bwrap"])
def test_read_never_returns_a_host_file_through_a_swapped_symlink(kind, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text(SECRET + "\n")
    outcome, journal = _race(kind, workspace, host_file, READER)
    assert SECRET not in journal
    assert SECRET not in repr(outcome.variables)
    assert outcome.status == "succeeded", outcome.error     # the reader outlasted the swapper


@pytest.mark.parametrize("kind", ["docker", "bwrap"])
def test_write_never_lands_in_a_host_file_through_a_swapped_symlink(kind, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    host_file = tmp_path / "host-file.txt"
    host_file.write_text("untouched\n")
    os.chmod(host_file, 0o666)
    outcome, _ = _race(kind, workspace, host_file, WRITER)
    assert host_file.read_text() == "untouched\n"
    assert outcome.status == "succeeded", outcome.error
