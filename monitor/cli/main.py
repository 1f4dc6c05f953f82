"""``nms-monitor``: entry point and sub-command dispatch."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from pydantic import ValidationError

from monitor import __version__
from monitor.cli.interop_args import INTEROP_COMMANDS, add_interop_parsers
from monitor.errors import InternalError

# Exit status of any command that stopped on an InternalError (a bug in nms-monitor).
EXIT_INTERNAL = 3


def _jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def jobs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="worker processes, patients partitioned across them; the output is the same for "
        "every N (default: one per core, or one for an input under 16 MiB)",
    )


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
    rp.add_argument(
        "files", nargs="+", metavar="FILE", help="NDJSON file (gzip allowed), or - for stdin"
    )
    rp.add_argument(
        "--summary",
        action="store_true",
        help="also print a table per patient (highest priority, score, when) on standard error",
    )
    rp.add_argument(
        "--pretty", action="store_true", help="human-readable alert text instead of JSON lines"
    )
    jobs_arg(rp)

    def bootstrap_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--bootstrap",
            metavar="HOST:PORT",
            help="Kafka bootstrap servers (comma-separated); default: NMS_KAFKA_BOOTSTRAP",
        )

    wk = sub.add_parser("worker", help="run a streaming worker against the configured brokers")
    bootstrap_arg(wk)
    wk.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])

    rn = sub.add_parser(
        "run",
        help="the main job: a worker; with no broker configured, on an embedded broker",
        description="With no broker configured, start the embedded broker on a free 127.0.0.1 "
        "port, create the topics and run the worker (stopped cleanly on exit and Ctrl-C). With "
        "a broker configured, behave like 'worker'.",
    )
    bootstrap_arg(rn)
    rn.add_argument("--embedded-port", type=int, metavar="PORT", help="pin the embedded port")
    rn.add_argument("--demo", action="store_true", help="also feed the bundled example patients")
    rn.add_argument(
        "--loglevel",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="the framework's logging (default: warning; the console shows one line per alert)",
    )
    rn.add_argument(
        "--no-dashboard", action="store_true", help="do not start the dashboard beside the worker"
    )

    sd = sub.add_parser(
        "send",
        help="validate NDJSON events and publish them to the input topics",
        description="Validate every line, then publish the valid events keyed by patient_id. By "
        "default all go to <prefix>.events in event-time order (as replay orders them), which "
        "is safe for historical files: no event arrives behind its patient's clock.",
    )
    bootstrap_arg(sd)
    sd.add_argument("files", nargs="+", metavar="FILE", help="NDJSON file, or - for stdin")
    sd.add_argument(
        "--speedup",
        type=float,
        metavar="FACTOR",
        help="pace the sending at FACTOR x real time by event time (as a live feed)",
    )
    topics = sd.add_mutually_exclusive_group()
    topics.add_argument(
        "--by-kind",
        action="store_true",
        help="send each kind to its own topic (<prefix>.vitals, ...), as a live integration "
        "does; fast, but at full speed the topics race apart in event time and a historical "
        "file loses events as too_late: use it with --speedup",
    )
    topics.add_argument(
        "--single-topic",
        action="store_true",
        help="send everything to <prefix>.events: the default (kept for scripts)",
    )

    al = sub.add_parser("alerts", help="print alert transitions as JSON lines")
    bootstrap_arg(al)
    al.add_argument("--follow", action="store_true", help="keep waiting for new alerts")
    al.add_argument("--pretty", action="store_true", help="human-readable text")
    al.add_argument(
        "--idle",
        type=float,
        default=2.0,
        help="without --follow: stop after this many idle seconds",
    )

    sm = sub.add_parser(
        "simulate",
        help="write a seeded ward cohort: DIR/events.ndjson and the ground truth DIR/truth.json",
        description="Simulate a ward (NMS, atypical NMS, parkinsonism-hyperpyrexia and their "
        "mimics among quiet patients) as events in the input contract, in arrival order, with the "
        "ground truth. The same seed gives the same files.",
    )
    sm.add_argument("--patients", type=int, default=2000, help="cohort size (default 2000)")
    sm.add_argument("--days", type=float, default=7.0, help="days per patient (default 7)")
    sm.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    sm.add_argument("--out", required=True, metavar="DIR", help="output directory")
    sm.add_argument(
        "--mix",
        metavar="COND=FRAC,...",
        help="condition fractions instead of the default ward mix (see the README)",
    )
    sm.add_argument(
        "--icu-fraction", type=float, default=0.1, help="share of ICU patients (default 0.1)"
    )
    sm.add_argument(
        "--numerics-minutes",
        type=float,
        default=5.0,
        help="ICU monitor numerics interval (default 5; 1 for a stress test)",
    )
    sm.add_argument(
        "--charting",
        choices=["routine", "sparse", "mix"],
        default="routine",
        help="routine: every shift, observations every 1-4 h (default); sparse: by exception, "
        "as case reports read (observations every 8-24 h, signs charted when they appear or go, "
        "CK every few days, missed doses); mix: half of the patients each",
    )
    sm.add_argument(
        "--to-kafka",
        action="store_true",
        help="then publish the events to the input topics in arrival order, paced by event time",
    )
    sm.add_argument(
        "--speedup",
        type=float,
        default=3600.0,
        metavar="FACTOR",
        help="with --to-kafka: simulated seconds per real second (default 3600: 1 h per s)",
    )
    bootstrap_arg(sm)

    ev = sub.add_parser(
        "evaluate",
        help="run the engine over a cohort with ground truth and report how it did",
        description="Run the engine (the same code as replay) over DIR/*.ndjson with the ground "
        "truth DIR/truth.json, and report sensitivity, false alerts, PPV, lead time, alarm burden "
        "and utility. Exit 0 when it ran, 2 for unusable input.",
    )
    ev.add_argument(
        "dir", nargs="?", metavar="DIR", help="directory with *.ndjson events and truth.json"
    )
    ev.add_argument(
        "--cases",
        metavar="CASEDIR",
        help="instead: run the published case reports in CASEDIR (e.g. tests/cases) and print "
        "case, citation, expected and got",
    )
    ev.add_argument("--truth", metavar="FILE", help="ground truth file (default DIR/truth.json)")
    ev.add_argument("--report", metavar="OUTDIR", help="write report.md and PNG plots here")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument(
        "--sweep", action="store_true", help="include the threshold sweep (operating curve)"
    )
    ev.add_argument(
        "--timeline",
        action="append",
        metavar="PATIENT",
        help="patient to draw a timeline for (repeatable; default: a few telling ones)",
    )
    ev.add_argument(
        "--order",
        choices=["event", "file"],
        default="event",
        help="event: event-time order as replay (default); file: file order, i.e. arrival "
        "order for a simulated cohort, as a live worker sees it",
    )
    jobs_arg(ev)

    db = sub.add_parser(
        "dashboard",
        help="serve the ICU alert dashboard (reads the alerts topic, sends acks)",
        description="Serve the alert dashboard: it reads <prefix>.alerts from the beginning and "
        "publishes acknowledge/snooze/resolve to <prefix>.acks. Binds to 127.0.0.1 unless told "
        "otherwise; any other address needs NMS_WEB_TOKENS_FILE or NMS_WEB_USERS_FILE.",
    )
    bootstrap_arg(db)
    db.add_argument("--host", help="bind address (default: NMS_WEB_HOST or 127.0.0.1)")
    db.add_argument("--port", type=int, help="port (default: NMS_WEB_PORT or 8080; 0 = free)")

    fw = sub.add_parser(
        "forward",
        help="deliver alert transitions to on-call systems (Alertmanager, PagerDuty, webhooks)",
        description="Read <prefix>.alerts in its own consumer group and deliver each transition "
        "to the receivers of its priority (NMS_FORWARD_RECEIVERS_FILE); an offset is committed "
        "only once every receiver has accepted the transition. Settings: NMS_FORWARD_*.",
    )
    bootstrap_arg(fw)
    fw.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])

    add_interop_parsers(sub, bootstrap_arg)

    sc = sub.add_parser("schemas", help="write the JSON Schema files of the contracts")
    sc.add_argument("--out", default="schemas", help="directory (default: schemas)")
    sc.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. An :class:`~monitor.errors.InternalError` (a bug)
    ends any command with status 3, the traceback and a message saying so: it is never
    handled as bad input (docs/architecture.md, "Errors")."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except ValidationError as exc:
        if not exc.title.endswith("Settings"):
            raise
        for line in settings_errors(exc):
            print(f"nms-monitor {args.command}: {line}", file=sys.stderr)
        return 2
    except InternalError as exc:
        traceback.print_exc(file=sys.stderr)
        print(
            f"nms-monitor {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in nms-monitor, not a problem with the input: the command stopped "
            "and its output is incomplete. Please report it with the input that caused it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _env_prefixes() -> dict[str, str]:
    """Each settings model's environment prefix, read from the model itself (only on the error
    path: the interop and forwarder settings are not imported otherwise)."""
    from monitor.forward.settings import ForwardSettings
    from monitor.interop.settings import FhirSettings, Hl7Settings, InteropSettings
    from monitor.stream.settings import KafkaSettings, WorkerSettings
    from monitor.web.settings import WebSettings

    models = (KafkaSettings, WorkerSettings, WebSettings, ForwardSettings, Hl7Settings,
              FhirSettings, InteropSettings)  # fmt: skip
    return {m.__name__: str(m.model_config.get("env_prefix", "")) for m in models}


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per unusable setting, naming the environment variable to change: a setting
    that cannot be used stops the command at start with exit status 2, not a traceback."""
    prefixes = _env_prefixes()
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if exc.title == "Settings" and len(loc) >= 2:  # nested: NMS_CLINICAL__CUTOFF
            name = f"NMS_{loc[0].upper()}__{'__'.join(x.upper() for x in loc[1:])}"
        elif exc.title == "Settings" and loc:  # a check across a section's fields
            name = f"NMS_{loc[0].upper()}__*"
        elif exc.title in prefixes and loc:
            name = prefixes[exc.title] + "_".join(x.upper() for x in loc)
        else:
            name = f"{exc.title} {'.'.join(loc)}".strip()
        given = (
            f" (given {err['input']!r})" if isinstance(err.get("input"), str | int | float) else ""
        )
        lines.append(f"unusable setting {name}{given}: {err['msg']}")
    return lines


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "replay":
        from monitor.cli.replay import run_replay
        from monitor.settings import load_settings

        clinical = load_settings().clinical
        return run_replay(args.files, clinical, args.summary, args.pretty, args.jobs)
    if args.command in ("worker", "run", "send", "alerts"):
        from monitor.cli import stream_cmds as sc
        from monitor.settings import load_settings

        settings = sc.with_bootstrap(load_settings(), args.bootstrap)
        if args.command == "worker":
            return sc.run_worker(settings, args.loglevel)
        if args.command == "run":
            return sc.run_main(
                settings, args.embedded_port, args.demo, args.loglevel, not args.no_dashboard
            )
        if args.command == "send":
            from monitor.cli.send import send_files

            return send_files(settings, args.files, args.speedup, args.by_kind)
        return sc.read_alerts(settings, args.follow, args.pretty, args.idle)
    if args.command == "forward":
        from monitor.cli.forward_cmd import run_forward
        from monitor.cli.stream_cmds import with_bootstrap
        from monitor.settings import load_settings

        return run_forward(with_bootstrap(load_settings(), args.bootstrap), args.loglevel)
    if args.command in INTEROP_COMMANDS:
        from monitor.cli.interop_cmds import run_interop

        return run_interop(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "evaluate":
        from monitor.cli.evaluate import run_cases, run_evaluate
        from monitor.settings import load_settings

        if args.cases:
            return run_cases(args.cases, load_settings().clinical, args.json)
        if not args.dir:
            parser.error("evaluate needs DIR (a simulated cohort) or --cases CASEDIR")
        return run_evaluate(
            args.dir,
            load_settings().clinical,
            args.truth,
            args.report,
            args.json,
            args.sweep,
            args.timeline,
            args.order,
            args.jobs,
        )
    if args.command == "dashboard":
        from monitor.settings import load_settings
        from monitor.web.server import run_dashboard

        return run_dashboard(load_settings(), args.bootstrap, args.host, args.port)
    if args.command == "schemas":
        from monitor.cli.schemas import run_schemas

        return run_schemas(args.out, args.check)
    parser.error(f"unknown command {args.command}")
    return 2  # pragma: no cover - parser.error exits


def _simulate(args: argparse.Namespace) -> int:
    from monitor.cli.simulate import run_simulate

    code = run_simulate(
        args.patients,
        args.days,
        args.seed,
        args.out,
        args.mix,
        args.icu_fraction,
        args.numerics_minutes,
        args.charting,
    )
    if code or not args.to_kafka:
        return code
    from monitor.cli import stream_cmds as sc
    from monitor.settings import load_settings

    if args.speedup <= 0:
        print("nms-monitor simulate: --speedup must be > 0", file=sys.stderr)
        return 2
    settings = sc.with_bootstrap(load_settings(), args.bootstrap)
    events = f"{args.out.rstrip('/')}/events.ndjson"
    from monitor.cli.send import send_files

    # Each kind to its topic, in arrival order, paced: the topics stay together in event time.
    return send_files(settings, [events], args.speedup, by_kind=True, arrival_order=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
