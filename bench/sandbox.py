"""Per-RUN overhead of each sandbox backend against a plain host subprocess.

For `true` and `python3 -c pass`, every round runs the command once on each
backend in turn (interleaved, so the load of a shared machine hits all of
them alike), then prints median and p95 side by side, the overhead over the
plain subprocess, and the Docker container start time.

    python bench/sandbox.py [--quick] [--json]

Targets (issue 6): Docker overhead <= 2 ms median, container start <= 400 ms,
bubblewrap overhead <= 10 ms. With --json, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ is first on sys.path, where a bench/runtime.py would
# shadow the runtime package: look for packages elsewhere.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from runtime.sandbox import SandboxConfig, SandboxError, open_sandbox  # noqa: E402
from runtime.sandbox.base import SANDBOX_PATH  # noqa: E402

COMMANDS = {"true": "true", "python": "python3 -c pass"}
TIMEOUT_S = 0.5
TARGETS = {"docker_overhead_ms_median": 2.0, "docker_start_s": 0.4, "bwrap_overhead_ms_median": 10.0}


def plain_subprocess(command: str) -> None:
    subprocess.run(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_once(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def open_backends(workspace: Path, log) -> dict:
    boxes = {}
    for kind in ("host", "bwrap", "docker"):
        try:  # a workspace each: Docker hands a root-owned one to its sandbox user
            box = open_sandbox(kind, SandboxConfig(workspace=workspace / kind, run_id="bench"))
            box.start()
            boxes[kind] = box
        except SandboxError as exc:
            log(f"{kind}: not measured ({exc})")
    return boxes


def measure_runs(boxes: dict, rounds: int) -> dict:
    """samples[command][runner] = list of milliseconds."""
    samples = {}
    for label, command in COMMANDS.items():
        runners = {"subprocess": lambda c=command: plain_subprocess(c)}
        runners.update({kind: (lambda b=box, c=command: b.run(c, timeout=60)) for kind, box in boxes.items()})
        for action in runners.values():  # warm up caches and spare processes
            action()
        samples[label] = {name: [] for name in runners}
        for _ in range(rounds):
            for name, action in runners.items():
                samples[label][name].append(time_once(action))
    return samples


def measure_timeout_overshoot(boxes: dict) -> dict[str, float]:
    """Seconds between a RUN's timeout and its return with the command killed
    (a figure the security tests used to bound inline)."""
    overshoot = {}
    for kind, box in boxes.items():
        started = time.perf_counter()
        result = box.run("sleep 1000; echo late", timeout=TIMEOUT_S)
        assert result.timed_out
        overshoot[kind] = time.perf_counter() - started - TIMEOUT_S
    return overshoot


def measure_start(kind: str, workspace: Path, repeats: int) -> list[float]:
    seconds = []
    for i in range(repeats):
        box = open_sandbox(kind, SandboxConfig(workspace=workspace / kind, run_id=f"bench-start-{i}"))
        started = time.perf_counter()
        box.start()
        box.run("true")  # ready means: a command has run
        seconds.append(time.perf_counter() - started)
        box.close()
    return seconds


def summarise(samples: dict, start_s: dict[str, list[float]], overshoot: dict[str, float]) -> dict:
    result = {}
    for label, by_runner in samples.items():
        base_med = statistics.median(by_runner["subprocess"])
        base_p95 = percentile(by_runner["subprocess"], 0.95)
        result[f"host_ms_median_{label}"] = base_med
        for name, values in by_runner.items():
            if name == "subprocess":
                continue
            result[f"{name}_ms_median_{label}"] = statistics.median(values)
            result[f"{name}_overhead_ms_median_{label}"] = statistics.median(values) - base_med
            result[f"{name}_overhead_ms_p95_{label}"] = percentile(values, 0.95) - base_p95
    summary = {"host_ms_median": result["host_ms_median_true"]}
    for name in ("docker", "bwrap", "host"):
        if f"{name}_overhead_ms_median_true" in result:
            summary[f"{name}_overhead_ms_median"] = result[f"{name}_overhead_ms_median_true"]
            summary[f"{name}_overhead_ms_p95"] = result[f"{name}_overhead_ms_p95_true"]
    for kind, seconds in start_s.items():
        summary[f"{kind}_start_s"] = statistics.median(seconds)
        summary[f"{kind}_start_s_max"] = max(seconds)
    for kind, seconds in overshoot.items():
        summary[f"{kind}_timeout_overshoot_s"] = seconds
    summary["targets_met"] = {key: summary[key] <= limit for key, limit in TARGETS.items()
                              if key in summary}
    return {**summary, "detail": result}


def print_table(samples: dict, summary: dict, rounds: int) -> None:
    print(f"per-RUN wall time, {rounds} interleaved rounds (ms)")
    print(f"{'command':18}{'runner':12}{'median':>9}{'p95':>9}{'overhead':>10}{'ovh p95':>9}{'ratio':>8}")
    for label, by_runner in samples.items():
        base_med = statistics.median(by_runner["subprocess"])
        base_p95 = percentile(by_runner["subprocess"], 0.95)
        for name, values in by_runner.items():
            med, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"{COMMANDS[label]:18}{name:12}{med:9.2f}{p95:9.2f}{med - base_med:10.2f}"
                  f"{p95 - base_p95:9.2f}{med / base_med:8.2f}")
    for kind in ("docker", "bwrap"):
        if f"{kind}_start_s" in summary:
            print(f"{kind} sandbox start (start() + first RUN): median {summary[f'{kind}_start_s']:.3f} s,"
                  f" max {summary[f'{kind}_start_s_max']:.3f} s")
    for kind in ("docker", "bwrap", "host"):
        if f"{kind}_timeout_overshoot_s" in summary:
            print(f"{kind}: a RUN with a {TIMEOUT_S} s timeout returns "
                  f"{summary[f'{kind}_timeout_overshoot_s']:.3f} s after it")
    for key, met in summary["targets_met"].items():
        print(f"target {key} <= {TARGETS[key]}: {'met' if met else 'MISSED'} ({summary[key]:.3f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    rounds, starts = (30, 3) if args.quick else (200, 7)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    # Every runner finds the same programs (not, e.g., a pyenv shim for python3).
    os.environ["PATH"] = SANDBOX_PATH
    with tempfile.TemporaryDirectory(prefix="tiss-bench-") as tmp:
        workspace = Path(tmp)
        boxes = open_backends(workspace, log)
        try:
            samples = measure_runs(boxes, rounds)
            overshoot = measure_timeout_overshoot(boxes)
        finally:
            for box in boxes.values():
                box.close()
        start_s = {kind: measure_start(kind, workspace, starts)
                   for kind in ("docker", "bwrap") if kind in boxes}
    summary = summarise(samples, start_s, overshoot)
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(samples, summary, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
