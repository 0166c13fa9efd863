"""``python -m evals [SUITE ...] [--out DIR] [--list] [--quick]``: run eval suites, write reports.

Exit status: 0 when no suite failed (ok or skipped), 1 when one failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals.runner import DEFAULT_OUT, run_suites, summary_markdown
from evals.suites import SUITES, describe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description="Run echo-agent's eval suites; write DIR/<suite>.json, DIR/<suite>.md and "
                    "DIR/summary.md. The corpus is read from $ECHO_AGENT_CORPUS or ../shared/corpus.",
    )
    parser.add_argument("suites", nargs="*", metavar="SUITE",
                        help=f"suites to run (default: all): {', '.join(SUITES)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"report folder (default: {DEFAULT_OUT})")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--quick", action="store_true", help="fewer files per suite, for a smoke run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name in SUITES:
            print(f"{name:12s} {describe(name)}")
        return 0
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        print(f'Error: suite "{unknown[0]}" does not exist; expected one of: {", ".join(SUITES)}',
              file=sys.stderr)
        return 2
    names = args.suites or list(SUITES)
    results = run_suites(names, SUITES, out_dir=args.out, quick=args.quick, echo=print)
    print(summary_markdown(results))
    print(f"reports written to {args.out}")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
