"""scantrail-hub: serve | migrate."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from hub.errors import HubError

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INGEST_FAILED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scantrail-hub", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    for name, help_text in (
        ("serve", "run ingest, API and dashboard"),
        ("migrate", "upgrade the schema"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        return _serve(args.config) if args.command == "serve" else _migrate(args.config)
    except HubError as exc:
        print(f"scantrail-hub: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _migrate(config: Path) -> int:
    from hub.settings import load_settings
    from hub.store.db import create_engine, migrate

    migrate(create_engine(load_settings(config).database_url))
    return EXIT_OK


def _serve(config: Path) -> int:
    import uvicorn

    from hub import logs
    from hub.bootstrap import bootstrap
    from hub.settings import load_settings

    settings = load_settings(config)
    logs.configure()
    hub = bootstrap(settings)
    hub.start()
    server = uvicorn.Server(
        uvicorn.Config(hub.api, host=settings.api.host, port=settings.api.port, log_level="warning")
    )

    def watch() -> None:
        hub.failed.wait()
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    server.run()
    hub.stop()
    return EXIT_INGEST_FAILED if hub.failed.is_set() else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
