"""``nms-monitor``: entry point and sub-command dispatch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nms-monitor",
        description="Early detection of Neuroleptic Malignant Syndrome from patient event streams.",
    )
    parser.add_argument("--version", action="version", version=f"nms-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser(
        "replay",
        help="run the engine over NDJSON event files; alert transitions to stdout",
        description="Run the engine over NDJSON files (any line order; files may overlap). Alert "
        "transitions go to standard output as JSON lines; rejected lines and the summary go to "
        "standard error. Exit 0 when it ran, 2 for unusable arguments or unreadable files.",
    )
    rp.add_argument("files", nargs="+", metavar="FILE", help="NDJSON file, or - for stdin")
    rp.add_argument(
        "--summary",
        action="store_true",
        help="also print a table per patient (highest priority, score, when) on standard error",
    )
    rp.add_argument(
        "--pretty", action="store_true", help="human-readable alert text instead of JSON lines"
    )

    sc = sub.add_parser("schemas", help="write the JSON Schema files of the contracts")
    sc.add_argument("--out", default="schemas", help="directory (default: schemas)")
    sc.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "replay":
        from monitor.cli.replay import run_replay
        from monitor.settings import load_settings

        return run_replay(args.files, load_settings().clinical, args.summary, args.pretty)
    if args.command == "schemas":
        from monitor.cli.schemas import run_schemas

        return run_schemas(args.out, args.check)
    parser.error(f"unknown command {args.command}")
    return 2  # pragma: no cover - parser.error exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
