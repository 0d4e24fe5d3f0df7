"""The security promises of each backend, attacked for real.

Each test runs on every backend that claims the protection (``protections``
attribute; base.PROTECTIONS lists them all), so a broken protection fails a
test, and a backend that stops claiming one shows up in the parametrisation.
The bombs are bounded (a finite number of forks, a finite allocation) so an
unprotected run cannot take the shared machine down.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from .conftest import backends_claiming, make_sandbox, processes_with


def _host_addresses() -> list[str]:
    addresses = {"127.0.0.1"}
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
        addresses.add(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    return sorted(addresses)


def _sleeper(seconds: int, marker: str) -> str:
    """A sleeping process whose command line holds ``marker``."""
    return f"python3 -c 'import time; time.sleep({seconds})' {marker}"


@pytest.mark.parametrize("kind", backends_claiming("no_network"))
def test_network_to_a_host_server_fails(kind, workspace, tcp_server):
    for address in _host_addresses():  # the server really answers from the host
        with socket.create_connection((address, tcp_server), timeout=2) as conn:
            assert conn.recv(100).startswith(b"hello")
    script = "; ".join(
        f"python3 -c \"import socket; print(socket.create_connection(('{a}', {tcp_server}), "
        f"timeout=2).recv(100))\" && echo REACHED-{a}" for a in _host_addresses())
    with make_sandbox(kind, workspace) as box:
        result = box.run(script, timeout=20)
    assert "REACHED" not in result.stdout
    assert "hello" not in result.stdout
    assert "Error" in result.stderr  # connection refused / network unreachable


@pytest.mark.parametrize("kind", backends_claiming("read_only_host"))
def test_writing_outside_the_workspace_fails(kind, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)  # only the sandbox may stop the write, not permissions
    script = f"""
        for target in /usr/tiss-evil /etc/tiss-evil /tiss-evil {outside}/direct; do
            echo pwned > "$target" 2>/dev/null && echo "WROTE $target"
        done
        ln -s {outside} link-abs && echo pwned > link-abs/via-absolute-link
        ln -s ../outside link-rel && echo pwned > link-rel/via-relative-link
        ln -s / link-root && echo pwned > link-root/usr/via-root-link
        echo pwned > inside && echo "WROTE inside"
    """
    with make_sandbox(kind, workspace) as box:
        result = box.run(script, timeout=20)
    assert "WROTE inside" in result.stdout  # the workspace itself is writable
    assert "WROTE /" not in result.stdout
    assert list(outside.iterdir()) == []
    assert not any(os.path.exists(p) for p in ("/usr/tiss-evil", "/etc/tiss-evil", "/tiss-evil",
                                         "/usr/via-root-link"))
    assert (workspace / "inside").read_text() == "pwned\n"


@pytest.mark.parametrize("kind", backends_claiming("no_shadow"))
def test_host_secrets_are_not_readable(kind, workspace):
    with make_sandbox(kind, workspace) as box:
        result = box.run("cat /etc/shadow; cat /etc/gshadow; ls -A /root /home; "
                         "cat /etc/passwd", timeout=20)
    assert "root:" in result.stdout  # /etc/passwd is there: the sandbox's own
    if os.access("/etc/shadow", os.R_OK):
        root_line = next(line for line in open("/etc/shadow") if line.startswith("root:"))
        assert root_line.strip() not in result.stdout
    assert "/etc/shadow: No such file" in result.stderr
    assert ".bashrc" not in result.stdout and ".config" not in result.stdout


@pytest.mark.parametrize("kind", backends_claiming("fork_bomb"))
def test_a_fork_bomb_is_contained(kind, workspace, marker):
    # Forks until refused, at most 400 times; each child sleeps. The process
    # limit (64) must refuse long before, and the RUN must still finish.
    bomb = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(400):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        made += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print('made', made, flush=True)\n"
    )
    with make_sandbox(kind, workspace) as box:
        box.run(f"cat > bomb.py <<'EOF'\n{bomb}EOF", timeout=20)
        result = box.run(f"python3 bomb.py {marker}", timeout=30)
        made = int(result.stdout.split()[1])
        assert made < 64
        after = box.run("echo still-alive", timeout=20)  # the sandbox still works
        assert after.stdout == "still-alive\n"
    subprocess.run(["true"], check=True, timeout=60)  # the host can still fork
    assert processes_with(marker) == []


@pytest.mark.parametrize("kind", backends_claiming("memory_oom"))
def test_a_memory_bomb_is_killed_with_an_oom_result(kind, workspace):
    # Allocates and touches up to 1 GiB in 16 MiB steps; the limit is 192 MiB.
    bomb = ("python3 -c \"chunks = []\nfor _ in range(64): chunks.append(bytearray(16 << 20))\n"
            "print('survived')\"")
    with make_sandbox(kind, workspace) as box:
        result = box.run(bomb, timeout=60)
        assert result.oom_killed
        assert result.exit_code == 137
        assert "survived" not in result.stdout
        assert box.run("echo ok", timeout=20).stdout == "ok\n"


@pytest.mark.parametrize("kind", backends_claiming("timeout"))
def test_a_timeout_kills_the_command_and_leaves_nothing(kind, workspace, marker):
    with make_sandbox(kind, workspace) as box:
        result = box.run(f"{_sleeper(1000, marker)}; echo done", timeout=1)
        assert result.timed_out
        assert result.exit_code == 124
        assert "done" not in result.stdout   # the whole command stopped, not just the sleeper
        assert processes_with(marker) == []
    # How soon after its timeout a RUN returns is a figure: bench/sandbox.py.


@pytest.mark.parametrize("kind", backends_claiming("output_cap"))
def test_a_hundred_megabytes_of_output_is_capped(kind, workspace):
    cap = 1 << 20
    with make_sandbox(kind, workspace, max_output=cap) as box:
        result = box.run("printf START; head -c 100000000 /dev/zero | tr '\\0' a; printf END",
                         timeout=120)
    assert result.exit_code == 0
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout) < cap + 200
    assert result.stdout.startswith("STARTaaa") and result.stdout.endswith("aaaEND")
    assert f"output cap of {cap} bytes" in result.stdout


@pytest.mark.parametrize("kind", backends_claiming("clean_env"))
def test_the_host_environment_is_not_visible(kind, workspace, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-6b1f0e")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake_token_6b1f0e")
    with make_sandbox(kind, workspace, env={"PLAN_VAR": "from-the-plan"}) as box:
        result = box.run("env; cat /proc/self/environ", timeout=20, env={"RUN_VAR": "from-run"})
    assert "6b1f0e" not in result.stdout
    assert "PLAN_VAR=from-the-plan" in result.stdout and "RUN_VAR=from-run" in result.stdout


@pytest.mark.parametrize("kind", backends_claiming("background_jobs"))
def test_background_jobs_neither_hang_the_run_nor_survive_it(kind, workspace, marker):
    sleeper = _sleeper(300, marker)
    script = (f"{sleeper} & setsid {sleeper} & ({sleeper} &) ; "
              f"nohup {sleeper} >/dev/null 2>&1 & echo started")
    with make_sandbox(kind, workspace) as box:
        result = box.run(script, timeout=60)   # a wait for the 300 s sleepers would time out
        assert result.stdout == "started\n"
        assert not result.timed_out
        assert processes_with(marker) == []
