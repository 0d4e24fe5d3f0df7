"""A plan's READ and WRITE raced by its own sandboxed command.

The attack: one PARALLEL branch keeps swapping a workspace file between a
regular file and a symlink to a host file; the other READs (or WRITEs) that
file again and again. A runtime that checks the path and then opens it by
name again loses this race within a few hundred attempts; ``paths.Workspace``
never opens by name after a check, so no attempt may reach the host file.
Bounded: the reader stops after a fixed number of attempts, the swapper when
the reader says so (or after a fixed number of swaps).
"""

from __future__ import annotations

import os
import textwrap

import pytest

from runtime import run_plan
from runtime.journal import RunFolder

from .conftest import require_backend

ATTEMPTS = 2000
SECRET = "HOST-SECRET-d41d8cd9"

SWAPPER = """\
RUN <<PYTHON AS swapper
import os
swaps = 0
while not os.path.exists("stop") and swaps < 1000000:
    with open("f.new", "w") as new:
        new.write("decoy\\n")
    os.replace("f.new", "f.txt")
    os.symlink("{target}", "f.lnk")
    os.replace("f.lnk", "f.txt")
    swaps += 1
print(f"swaps={{swaps}}")
PYTHON"""


def _race(victim) -> str:
    plan = textwrap.dedent(f"""\
        TASK "race the runtime" {{
          STEP "race" {{
            PARALLEL {{
        {textwrap.indent(SWAPPER.format(target=victim), "      ")}
              STEP "use the file" {{
                RUN "while [ ! -e f.txt ]; do sleep 0.01; done" TIMEOUT 60s
                TRY {{
                  RETRY {ATTEMPTS} {{
                    {{body}}
                  }}
                }} CATCH {{
                  LOG "the file never led outside"
                }}
                WRITE "stop" "done"
              }}
            }}
          }}
        }}
        """)
    return plan


def _run(kind, workspace, plan):
    require_backend(kind)
    outcome = run_plan(plan, workspace, sandbox=kind, review="approve")
    journal = "".join(p.read_text(errors="replace") for p in outcome.journal.rglob("*") if p.is_file())
    swaps = int(outcome.variables["swapper"]["STDOUT"].split("swaps=")[1])
    return outcome, journal, swaps


@pytest.mark.parametrize("kind", ["docker", "bwrap"])
def test_read_never_returns_a_host_file_through_a_swapped_symlink(kind, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text(SECRET + "\n")
    body = 'READ "f.txt" AS got\n                    ASSERT got CONTAINS "HOST-SECRET"'
    plan = _race(host_file).replace("{body}", body)
    outcome, journal, swaps = _run(kind, workspace, plan)
    assert swaps > 20, "the swapper did not really race the reader"
    assert SECRET not in journal
    assert SECRET not in repr(outcome.variables)
    assert outcome.status == "succeeded"          # the CATCH ran: no READ ever got the secret


@pytest.mark.parametrize("kind", ["docker", "bwrap"])
def test_write_never_lands_in_a_host_file_through_a_swapped_symlink(kind, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    host_file = tmp_path / "host-file.txt"
    host_file.write_text("untouched\n")
    os.chmod(host_file, 0o666)
    body = 'APPEND "f.txt" "written by the plan\\n"\n                    ASSERT false'
    plan = _race(host_file).replace("{body}", body)
    outcome, journal, swaps = _run(kind, workspace, plan)
    assert swaps > 20, "the swapper did not really race the writer"
    assert host_file.read_text() == "untouched\n"
    assert outcome.status == "succeeded"
