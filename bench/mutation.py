"""Mutation testing of the modules where a silent bug hurts most (issue 10).

For each module below, mutmut 3 changes the code one small edit at a time
(`>` to `>=`, a constant to another, a call argument dropped, ...) and runs
the tests that reach the changed function. A mutant is *killed* when a test
fails, *survived* when every test still passes (a bug the suite would miss),
*timeout* when the tests ran too long (counted as killed: the suite noticed).

Each module is tested by its own list of fast, in-process test files (TESTS
below, plus any tests/*/test_mutation_<module>.py), so that a full run stays
under an hour on two cores. Tests that start `tiss` in a subprocess cannot
see a mutant (the child imports the original code), so they are left out.

mutmut copies the code it mutates into a `mutants/` folder of its working
directory; here every module gets its own working directory under
build/mutation/<module>/ holding a copy of the packages and tests, so runs
of different modules never share state and the checkout is never touched.

    python bench/mutation.py                      # every module, a table
    python bench/mutation.py --json               # one JSON object on stdout
    python bench/mutation.py runtime/budget.py    # some modules only
    python bench/mutation.py --write-docs         # also update docs/testing.md
    python bench/mutation.py --survivors          # print each surviving diff
    python bench/mutation.py --rev HEAD           # the committed files, not the working tree
    python bench/mutation.py --no-run             # the last run's results again

Run it under `nice -n 19` on a shared machine (`make mutate` does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
DOC = ROOT / "docs" / "testing.md"
TARGET = 0.85

# module -> the fast test files that exercise it in-process.
TESTS = {
    "runtime/paths.py": ["tests/runtime/test_units.py"],
    "runtime/evaluate.py": ["tests/runtime/test_units.py", "tests/runtime/test_features.py"],
    "runtime/interpolate.py": ["tests/runtime/test_units.py", "tests/runtime/test_features.py"],
    "runtime/budget.py": ["tests/runtime/test_units.py", "tests/runtime/test_features.py"],
    "runtime/journal.py": ["tests/runtime/test_units.py", "tests/runtime/test_journal_safety.py"],
    "runtime/state.py": ["tests/runtime/test_units.py", "tests/runtime/test_features.py"],
    "runtime/sandbox/output.py": ["tests/sandbox/test_output.py"],
    "tisslang/heredoc.py": ["tests/lang/test_parser.py", "tests/lang/test_errors.py",
                            "tests/lang/test_formatter.py"],
    "model/optim.py": ["tests/model/test_optim.py", "tests/model/test_model.py"],
    "model/loss.py": ["tests/model/test_model.py"],
    "model/tokenizer.py": ["tests/model/test_tokenizer.py"],
}

# What a working directory needs: the packages, the tests and what they read.
COPIED = ["tisslang", "runtime", "model", "tools", "tests", "features", "examples",
          "pyproject.toml", "README.md"]
PACKAGES = ["tisslang", "runtime", "model", "tools"]

# mutmut's statuses, folded into the three columns of the table.
COLUMN = {"killed": "killed", "timeout": "timeout", "survived": "survived",
          "segfault": "killed", "caught by type check": "killed"}


def tests_for(module: str, work: Path) -> list[str]:
    """The module's listed tests plus the tests written to kill its mutants."""
    stem = Path(module).stem
    extra = sorted(str(p.relative_to(work)) for p in work.glob(f"tests/*/test_mutation_{stem}.py"))
    return [t for t in TESTS[module] + extra if (work / t).exists()]


def copy_sources(work: Path, rev: str | None) -> None:
    """The packages and tests, from the working tree or from a git revision
    (a revision gives a consistent copy while others are editing files)."""
    if rev:
        archive = subprocess.run(["git", "archive", rev, *COPIED], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
        return
    junk = shutil.ignore_patterns("__pycache__", ".tiss", "*.pyc")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=junk)
        elif source.exists():
            shutil.copy2(source, work / name)


def isolation(module: str) -> str:
    """How mutmut starts each mutant's tests. Forked straight from mutmut, which
    has run the tests once, a model mutant would inherit model/threads.py's
    thread pool without its threads and hang: those go through mutmut's fork
    server. The others fork directly (through the server, a mutant of code that
    test collection already ran, like the parser's pre-scan, ends with exit
    code 255, which mutmut counts as a timeout)."""
    return "forkserver" if module.startswith("model/") else "fork"


def prepare(module: str, rev: str | None) -> Path:
    """A fresh working directory for one module, with its mutmut settings."""
    work = workdir(module)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copy_sources(work, rev)
    # mutmut reads setup.cfg when pyproject.toml has no [tool.mutmut]; the
    # whole packages are copied into mutants/ so that `import runtime` finds
    # a complete package there, and only the one module is mutated.
    lines = ["[mutmut]",
             "source_paths =", *(f"    {p}" for p in PACKAGES),
             f"only_mutate = {module}",
             "also_copy =", *(f"    {p}" for p in COPIED if p not in PACKAGES),
             "pytest_add_cli_args_test_selection =", *(f"    {t}" for t in tests_for(module, work)),
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider",
             f"process_isolation = {isolation(module)}",
             "use_git_change_detection = false",
             "track_dependencies = false", ""]
    (work / "setup.cfg").write_text("\n".join(lines))
    return work


def mutmut(work: Path, *args: str, quiet: bool = True) -> str:
    """Run one mutmut command in a working directory; its output as text."""
    command = [sys.executable, "-m", "mutmut", *args]
    done = subprocess.run(command, cwd=work, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"mutmut {' '.join(args)} failed in {work}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def workdir(module: str) -> Path:
    return WORK / module.replace("/", "_").removesuffix(".py")


def run_module(module: str, args: argparse.Namespace) -> dict:
    work = workdir(module)
    if args.no_run:   # the results of the last run, e.g. to print them again
        if not (work / "mutants").is_dir():
            sys.exit(f"{module}: no earlier run in {work}; run without --no-run first")
    else:
        prepare(module, args.rev)
        started = time.monotonic()
        mutmut(work, "run", "--max-children", str(args.max_children))
        (work / "wall_seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    seconds = float((work / "wall_seconds").read_text()) if (work / "wall_seconds").exists() else 0
    counts = {"killed": 0, "survived": 0, "timeout": 0, "other": 0}
    survived = []
    for name, status in re.findall(r"^\s*(\S+): (.+)$", mutmut(work, "results", "--all", "true"), re.M):
        counts[COLUMN.get(status.strip(), "other")] += 1
        if status.strip() == "survived":
            survived.append(name)
    total = sum(counts.values())
    row = {"module": module, **counts, "total": total, "seconds": round(seconds),
           "killed_ratio": round((counts["killed"] + counts["timeout"]) / total, 3) if total else None,
           "survivors": survived}
    if args.survivors:
        for name in survived:
            print(mutmut(work, "show", name), file=sys.stderr)
    return row


def overall(rows: list[dict]) -> dict:
    sums = {k: sum(r[k] for r in rows) for k in ("killed", "survived", "timeout", "other", "total", "seconds")}
    caught = sums["killed"] + sums["timeout"]
    return {**sums, "killed_ratio": round(caught / sums["total"], 3) if sums["total"] else None}


def table(rows: list[dict], total: dict) -> str:
    lines = ["| module | mutants | killed | timeout | survived | other | killed_ratio | time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows + [{"module": "**overall**", **total}]:
        ratio = "n/a" if r["killed_ratio"] is None else f"{r['killed_ratio']:.1%}"
        lines.append(f"| {r['module']} | {r['total']} | {r['killed']} | {r['timeout']} | "
                     f"{r['survived']} | {r['other']} | {ratio} | {r['seconds']:.0f} s |")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace the table between the markers of docs/testing.md."""
    begin, end = "<!-- mutation-table:begin -->", "<!-- mutation-table:end -->"
    doc = DOC.read_text()
    if begin not in doc or end not in doc:
        sys.exit(f"{DOC}: the markers {begin} and {end} are missing; add them where the table goes")
    head, rest = doc.split(begin, 1)
    DOC.write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: all {len(TESTS)})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--write-docs", action="store_true", help=f"write the table into {DOC.relative_to(ROOT)}")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff (stderr)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1,
                        help="mutants tested at once (default: the number of cores)")
    parser.add_argument("--no-run", action="store_true",
                        help="report the results of the last run (in build/mutation/) without running")
    parser.add_argument("--rev", help="mutate the files of this git revision (default: the working tree)")
    args = parser.parse_args()
    if not args.no_run and importlib.util.find_spec("mutmut") is None:
        sys.exit("mutmut is not installed: run `make mutate`, or "
                 "`.venv/bin/python -m pip install -e '.[mutate]'` first")
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        parser.error(f"not a mutated module: {', '.join(unknown)} (choose from {', '.join(TESTS)})")
    rows = []
    for module in args.modules or list(TESTS):
        rows.append(run_module(module, args))
        if not args.json:
            print(f"{module}: {rows[-1]['killed_ratio']}", file=sys.stderr)
    total = overall(rows)
    text = table(rows, total)
    if args.write_docs:
        write_docs(text)
    if args.json:
        print(json.dumps({"modules": rows, "overall": total, "target": TARGET}, indent=2))
    else:
        print(text)
    below = [r["module"] for r in rows if r["killed_ratio"] is not None and r["killed_ratio"] < TARGET]
    if below:
        print(f"below {TARGET:.0%} killed: {', '.join(below)}", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
