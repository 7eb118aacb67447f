"""scantrail-agent: run | scan | status | check-config | list-devices | decode."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from agent.errors import AgentError, ConfigError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2
EXIT_REFUSED_DECODE = 2  # `decode` exits 2 on a rejected label, as documented


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except AgentError as exc:
        print(f"scantrail-agent: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scantrail-agent", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    p = command("run", _run, "run the agent until SIGTERM")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--display", action="store_true", help="show a station screen on stdout")
    p = command("scan", _scan, "send one scan to the running agent")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--scanner-id", default="cli")
    p.add_argument("text")
    p = command("status", _status, "show backlog, watermark and connection")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="one JSON document")
    p = command("check-config", _check_config, "validate the configuration and print it")
    p.add_argument("--config", type=Path, required=True)
    p = command("list-devices", _list_devices, "show candidate scanners (by-id paths)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--dev", type=Path, default=Path("/dev"), help=argparse.SUPPRESS)
    p = command("decode", _decode, "decode one label and print the reading as JSON")
    p.add_argument("--rules", type=Path, help="TOML file with decode rules (see docs/barcodes.md)")
    p.add_argument("text", help="the label; GS may be typed as <GS> or \\x1d")
    return parser


def _run(args: argparse.Namespace) -> int:
    from agent import logs
    from agent.bootstrap import bootstrap
    from agent.settings import load_settings

    settings = load_settings(args.config)
    logs.configure(level="WARNING" if args.display else "INFO")  # keep the screen readable
    app = bootstrap(settings, display=sys.stdout if args.display else None)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    app.start()
    stopping.wait()
    app.stop()
    return EXIT_OK


def _scan(args: argparse.Namespace) -> int:
    from agent.settings import load_settings
    from agent.sources.socket_source import request

    settings = load_settings(args.config)
    answer = request(
        settings.socket_path, {"op": "scan", "text": args.text, "scanner_id": args.scanner_id}
    )
    print(json.dumps(answer))
    return EXIT_OK if answer.get("kept") else EXIT_REFUSED


def _status(args: argparse.Namespace) -> int:
    from agent.errors import ControlError
    from agent.settings import load_settings
    from agent.sources.socket_source import request

    settings = load_settings(args.config)
    try:
        status = request(settings.socket_path, {"op": "status"}, timeout=5)
    except ControlError:
        status = _offline_status(settings)
    if args.json:
        print(json.dumps(status))
    else:
        for key, value in status.items():
            print(f"{key:>26}: {value}")
    return EXIT_OK


def _offline_status(settings: Any) -> dict[str, Any]:
    """When no agent answers, read the outbox file itself: the backlog is still known."""
    from agent.app import describe_store
    from agent.outbox import OutboxReader

    base = {"agent_id": settings.agent_id, "running": False, "connection": "agent_not_running"}
    if not settings.outbox_path.exists():
        return {**base, "backlog": 0, "last_confirmed_seq": 0}
    reader = OutboxReader(settings.outbox_path)
    try:
        return {**base, **describe_store(reader.stats())}
    finally:
        reader.close()


def _check_config(args: argparse.Namespace) -> int:
    from agent.settings import load_settings

    settings = load_settings(args.config)
    print(settings.model_dump_json(indent=2))
    return EXIT_OK


def _list_devices(args: argparse.Namespace) -> int:
    import dataclasses

    from agent.devices import list_devices

    found = list_devices(args.dev)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in found]))
    elif not found:
        print("no serial or keyboard devices under /dev/serial/by-id or /dev/input/by-id")
    for c in [] if args.json else found:
        hint = "  <- looks like a scanner" if c.likely_scanner else ""
        print(f"{c.type:6} {c.path} -> {c.target}{hint}")
    return EXIT_OK


def _decode(args: argparse.Namespace) -> int:
    import dataclasses
    import tomllib

    from protocol.barcodes import DEFAULT_RULES, DecodeRules, Rejected, decode

    rules = DEFAULT_RULES
    if args.rules is not None:
        try:
            rules = DecodeRules.model_validate(tomllib.loads(args.rules.read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.rules}: {exc}") from None
    text = args.text.replace("<GS>", "\x1d").replace("\\x1d", "\x1d")
    result = decode(text, rules)
    document = {"ok": not isinstance(result, Rejected), **dataclasses.asdict(result)}
    print(json.dumps(document, ensure_ascii=False))
    return EXIT_REFUSED_DECODE if isinstance(result, Rejected) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
