"""``tiss report RUN_ID [-o FILE]`` and ``tiss ui [--port N]``."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    report = subparsers.add_parser("report", help="write a run's report as one self-contained HTML file")
    report.add_argument("run_id", help="as printed by tiss run, or listed by tiss runs")
    report.add_argument("-o", "--output", help="the HTML file to write (default: report-RUN_ID.html)")
    report.add_argument("--workspace", default=".", help="default: the current directory")
    report.set_defaults(func=cmd_report)

    ui = subparsers.add_parser("ui", help="the review UI in your browser: runs, live progress, "
                               "approve/reject pending reviews")
    ui.add_argument("--port", type=int, default=8765, help="on 127.0.0.1 (default 8765; 0: any free port)")
    ui.add_argument("--workspace", default=".", help="default: the current directory")
    ui.set_defaults(func=cmd_ui)


def cmd_report(args) -> int:
    from .errors import RunError
    from .journal import RunFolder
    from .report import build_view, render_html
    from .run_cli import _usage_error
    try:
        folder = RunFolder.open(Path(args.workspace), args.run_id)
        text = render_html(build_view(folder))
    except RunError as exc:
        return _usage_error(exc)
    target = Path(args.output or f"report-{folder.run_id}.html")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write the report to {target}: {exc.strerror}\n"
              "hint: give a writable path with -o FILE", file=sys.stderr)
        return 2
    print(f"wrote {target} ({len(text.encode()) // 1024 + 1} KiB); open it in a browser: file://{target.resolve()}")
    return 0


def cmd_ui(args) -> int:
    from .ui import serve
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a TCP port\nhint: give 1-65535, or 0 for any free port",
              file=sys.stderr)
        return 2
    return serve(Path(args.workspace), args.port)
