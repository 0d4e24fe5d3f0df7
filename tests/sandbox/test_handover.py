"""The workspace hand-over (root-owned workspace lent to the Docker sandbox
uid) never follows a symlink a command planted: a host folder behind one
keeps its owner. On real files; root only, as the hand-over itself."""

from __future__ import annotations

import os

import pytest

from runtime.sandbox.handover import WorkspaceHandover, give_back
from runtime.sandbox.image import SANDBOX_UID

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root lends a workspace")


@pytest.fixture
def host_file(tmp_path):
    """A root-owned file outside the workspace."""
    (tmp_path / "host").mkdir()
    path = tmp_path / "host" / "secret"
    path.write_text("the host's\n")
    return path


@pytest.fixture
def lent(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    workspace = tmp_path / "ws"
    (workspace / "d").mkdir(parents=True)
    handover = WorkspaceHandover.lend(workspace)
    yield workspace, handover
    handover.give_back()


def test_a_lent_directory_swapped_for_a_symlink_is_not_followed(lent, host_file):
    workspace, handover = lent
    assert (workspace / "d").stat().st_uid == SANDBOX_UID
    # What a command can do at any time: replace a known folder by a link.
    os.rmdir(workspace / "d")
    os.symlink(host_file.parent, workspace / "d")
    handover.refresh()
    handover.give_back()
    assert host_file.stat().st_uid == 0 and host_file.parent.stat().st_uid == 0


def test_a_new_symlink_to_a_host_folder_is_not_followed(lent, host_file):
    workspace, handover = lent
    os.symlink(host_file.parent, workspace / "new-link")
    (workspace / "new-dir").mkdir()
    os.symlink(host_file.parent, workspace / "new-dir" / "link")
    handover.refresh()
    assert host_file.stat().st_uid == 0 and host_file.parent.stat().st_uid == 0
    assert (workspace / "new-dir").stat().st_uid == SANDBOX_UID  # lent, as it should
    os.chown(host_file, SANDBOX_UID, SANDBOX_UID)  # giving back must not follow either
    give_back(str(workspace), (0, 0))
    assert host_file.stat().st_uid == SANDBOX_UID
    assert (workspace / "new-dir").stat().st_uid == 0
