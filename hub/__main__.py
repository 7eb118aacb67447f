"""scantrail-hub: serve | migrate | import KIND FILE | rebuild | audit verify | tokens ...
| users ... | labels ..."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from hub.errors import AuditBroken, HubError

if TYPE_CHECKING:
    from hub.bootstrap import Hub
    from hub.provision.site import Layout
    from hub.settings import HubSettings

EXIT_OK = 0
EXIT_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scantrail-hub", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    parsers = {}
    for name, help_text in (
        ("serve", "run ingest, API and dashboard"),
        ("migrate", "upgrade the schema"),
        ("import", "import reference data (CSV with a header, or a JSON list)"),
        ("rebuild", "derive every record again from the scan log and swap it in"),
        ("audit", "check the audit trail's hash chain"),
        ("tokens", "create, list or revoke API tokens"),
        ("labels", "print labels: station commands, or the codes of reference data"),
        ("users", "create, list, disable, enable or delete people who sign in with a password"),
        ("sessions", "list signed-in browsers, or end their sessions"),
        ("ca", "set up a site: its CA, the broker's certificate, config and the hub's login"),
        ("agents", "provision an agent (broker login, ACL, API token, bundle) or revoke it"),
    ):
        parsers[name] = p = sub.add_parser(name, help=help_text)
        # Command sheets and a new site's CA need no hub database.
        p.add_argument("--config", type=Path, required=name not in ("labels", "ca"))
    # refdata.load checks the kind and names the valid ones: serve need not import it.
    parsers["import"].add_argument("kind", help="instruments, trays, sterilizers, locations, ...")
    parsers["import"].add_argument("file", type=Path)
    parsers["audit"].add_argument("action", choices=["verify"])
    _token_arguments(parsers["tokens"])
    _label_arguments(parsers["labels"])
    _user_arguments(parsers["users"])
    _session_arguments(parsers["sessions"])
    _provision_arguments(parsers["ca"], parsers["agents"])
    args = parser.parse_args(argv)
    commands = {
        "serve": _serve,
        "migrate": _migrate,
        "import": _import,
        "rebuild": _rebuild,
        "audit": _audit,
        "tokens": _tokens,
        "labels": _labels,
        "users": _users,
        "sessions": _sessions,
        "ca": _ca,
        "agents": _agents,
    }
    try:
        return commands[args.command](args)
    except HubError as exc:
        print(f"scantrail-hub: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _engine(settings: HubSettings) -> Engine:
    from hub.store.db import create_engine, migrate

    engine = create_engine(settings.database_url)
    migrate(engine)
    return engine


def _settings(config: Path) -> HubSettings:
    from hub.settings import load_settings

    return load_settings(config)


def _migrate(args: argparse.Namespace) -> int:
    _engine(_settings(args.config)).dispose()
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from hub.refdata import load

    settings = _settings(args.config)
    count = load(_engine(settings), args.kind, args.file, settings.decode)
    print(f"imported {count} {args.kind} from {args.file}")
    return EXIT_OK


def _rebuild(args: argparse.Namespace) -> int:
    from hub.reconcile.rebuild import rebuild

    settings = _settings(args.config)
    report = rebuild(_engine(settings), settings.decode, settings.records.policy())
    for table, line in report.items():
        print(f"{table}: {line.live} live, {line.rebuilt} rebuilt, {line.differ} differed")
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from hub.store.audit_chain import verify

    verdict = verify(_engine(_settings(args.config)))
    if not verdict.ok:
        raise AuditBroken(
            f"audit chain broken at entry {verdict.first_bad_id}: {verdict.reason} "
            f"({verdict.entries} entries before it verify)"
        )
    print(f"audit chain verified: {verdict.entries} entries")
    return EXIT_OK


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    from hub.access.roles import Role

    parser.add_argument("action", choices=["create", "list", "revoke"])
    parser.add_argument("--role", choices=[r.value for r in Role], help="create: its role")
    parser.add_argument("--name", help="create: who or what holds it")
    parser.add_argument("--expires", help="create: a date (2027-06-30) or days (90d)")
    parser.add_argument("--id", type=int, help="revoke: the token's id, from list")


def _tokens(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from hub.access.roles import Role
    from hub.access.validity import expiry
    from hub.errors import ConfigError
    from hub.store import tokens

    engine = _engine(_settings(args.config))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if args.action == "create":
            if not args.role or not args.name:
                raise ConfigError("tokens create needs --role and --name")
            expires_at = expiry(args.expires, now) if args.expires else None
            token_id, token = tokens.create(conn, args.name, Role(args.role), now, expires_at)
            print(f"token {token_id} for {args.name} ({args.role}); shown once, keep it safe:")
            print(token)
        elif args.action == "list":
            for row in tokens.listing(conn):
                expires = row["expires_at"] or "never"
                state = "revoked" if row["revoked_at"] else f"expires {expires}"
                print(f"{row['id']}\t{row['role']}\t{row['name']}\t{state}")
        else:
            if args.id is None:
                raise ConfigError("tokens revoke needs --id")
            if not tokens.revoke(conn, args.id, now):
                raise ConfigError(f"no live token has id {args.id}")
            print(f"token {args.id} revoked")
    engine.dispose()
    return EXIT_OK


def _user_arguments(parser: argparse.ArgumentParser) -> None:
    from hub.access.roles import Role

    parser.add_argument(
        "action", choices=["create", "list", "disable", "enable", "delete", "reset-password"]
    )
    parser.add_argument("--username", help="the name they sign in with")
    people = [r.value for r in Role if r is not Role.AGENT]
    parser.add_argument("--role", choices=people, help="create: viewer, tech, operator, admin")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="create, reset-password: read the password from standard input, not ask twice",
    )


def _session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "revoke"])
    parser.add_argument("--id", type=int, help="revoke: the session's id (from list)")
    parser.add_argument("--username", help="revoke: every session of this person")


def _users(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from hub.access.roles import Role
    from hub.errors import ConfigError
    from hub.store import users

    engine = _engine(_settings(args.config))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if args.action == "list":
            for row in users.listing(conn):
                state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "active"
                print(f"{row['username']}\t{row['role']}\t{row['created_at']}\t{state}")
            engine.dispose()
            return EXIT_OK
        if not args.username:
            raise ConfigError(f"users {args.action} needs --username")
        if args.action == "create":
            if not args.role:
                raise ConfigError("users create needs --role")
            users.create(conn, args.username, Role(args.role), _new_password(args), now)
            print(f"user {args.username} ({args.role}) created")
        elif args.action == "reset-password":
            users.reset_password(conn, args.username, _new_password(args), now)
            print(f"user {args.username}: password changed, their sessions ended")
        elif args.action == "disable":
            users.disable(conn, args.username, now)
            print(f"user {args.username} disabled, their sessions ended")
        elif args.action == "enable":
            users.enable(conn, args.username)
            print(f"user {args.username} enabled")
        else:
            users.delete(conn, args.username, now)
            print(f"user {args.username} deleted, their sessions ended")
    engine.dispose()
    return EXIT_OK


def _new_password(args: argparse.Namespace) -> str:
    import getpass

    from hub.errors import ConfigError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ConfigError("the two passwords differ")
    return password


def _sessions(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from hub.errors import ConfigError
    from hub.store import tokens, users

    engine = _engine(_settings(args.config))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if args.action == "list":
            for row in tokens.sessions(conn, now):
                print(f"{row['id']}\t{row['name']}\t{row['role']}\tuntil {row['expires_at']}")
        elif args.id is not None:
            if not tokens.end_session_by_id(conn, args.id, now):
                raise ConfigError(f"no live session has id {args.id}")
            print(f"session {args.id} ended")
        elif args.username:
            ended = tokens.end_sessions_of(conn, users.actor(args.username), now)
            print(f"{ended} sessions of {args.username} ended")
        else:
            raise ConfigError("sessions revoke needs --id or --username")
    engine.dispose()
    return EXIT_OK


def _provision_arguments(ca: argparse.ArgumentParser, agents: argparse.ArgumentParser) -> None:
    ca.add_argument("action", choices=["init"])
    agents.add_argument("action", choices=["provision", "revoke"])
    agents.add_argument("name", help="the agent id, which is also its broker login")
    for parser in (ca, agents):
        parser.add_argument(
            "--site-dir",
            type=Path,
            required=True,
            help="root only: the CA's key, the hub's secrets, bundles (e.g. /etc/scantrail/site)",
        )
        parser.add_argument(
            "--broker-dir",
            type=Path,
            required=True,
            help="what the broker reads (e.g. /etc/mosquitto/scantrail)",
        )
        parser.add_argument("--broker-host", action="append", default=[], help="name or address")
        parser.add_argument("--tls-port", type=int, default=8883)
    ca.add_argument(
        "--hub-host", action="append", default=[], help="the hub's HTTPS names (default: broker's)"
    )
    ca.add_argument("--state-dir", type=Path, help="the broker's persistence and pid file")
    ca.add_argument("--local-port", type=int, default=1883, help="loopback listener; 0: none")
    ca.add_argument("--topic-prefix", default="scantrail")
    ca.add_argument("--run-as", help="the user mosquitto drops to (its `user` option)")
    ca.add_argument("--tls-bind", help="the TLS listener's address; default: every interface")
    agents.add_argument("--station", help="provision: the station's name")
    agents.add_argument("--mode", choices=_modes(), help="provision")
    agents.add_argument(
        "--hub-url", help="provision: the hub's API (default: https://BROKER_HOST:its port)"
    )
    agents.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="provision: let a plain http:// hub URL off the Pi carry its token",
    )
    agents.add_argument("--install-dir", type=Path, default=Path("/etc/scantrail"))
    agents.add_argument(
        "--out", type=Path, help="provision: write the bundle here (a new path), keep none"
    )


def _modes() -> list[str]:
    from protocol.vocabulary import Mode

    return [m.value for m in Mode]


def _layout(args: argparse.Namespace) -> Layout:
    from hub.provision.site import Layout

    return Layout(args.site_dir, args.broker_dir, getattr(args, "state_dir", None))


def _ca(args: argparse.Namespace) -> int:
    from hub.errors import ConfigError
    from hub.provision import site

    if not args.broker_host:
        raise ConfigError("ca init needs --broker-host (as the agents reach the broker)")
    layout = _layout(args)
    site.init(
        layout,
        args.broker_host,
        args.hub_host or args.broker_host,
        args.topic_prefix,
        args.tls_port,
        args.local_port or None,
        args.run_as,
        args.tls_bind,
    )
    print(f"site CA, the hub's certificate and its broker password in {args.site_dir}")
    print(f"(root only); the broker's files in {args.broker_dir}.")
    print(f"Run: mosquitto -c {args.broker_dir / 'mosquitto.conf'}")
    return EXIT_OK


def _agents(args: argparse.Namespace) -> int:
    from hub.errors import ConfigError
    from hub.provision import agents
    from protocol.vocabulary import Mode

    settings = _settings(args.config)
    engine = _engine(settings)
    prefix = settings.mqtt.topic_prefix
    layout = _layout(args)
    try:
        if args.action == "revoke":
            deleted = agents.revoke(engine, layout, prefix, args.name)
            print(f"agent {args.name} revoked: broker login, ACL entries and API tokens")
            for bundle in deleted:
                print(f"its bundle {bundle} deleted")
            return EXIT_OK
        if not args.station or not args.mode or not args.broker_host:
            raise ConfigError("agents provision needs --station, --mode and --broker-host")
        hub_url = args.hub_url
        if hub_url is None and settings.api.tls_cert is not None:
            hub_url = f"https://{args.broker_host[0]}:{settings.api.port}"
        where = agents.Where(
            args.broker_host[0],
            args.tls_port,
            hub_url,
            args.install_dir,
            args.allow_insecure_http,
        )
        bundle = agents.provision(
            engine, layout, prefix, args.name, args.station, Mode(args.mode), where, args.out
        )
    finally:
        engine.dispose()
    print(f"agent {args.name} provisioned; its bundle is {bundle} (docs/provisioning.md)")
    return EXIT_OK


def _label_arguments(parser: argparse.ArgumentParser) -> None:
    from hub.labels.render import Format, Paper
    from hub.labels.sheets import KINDS
    from protocol.vocabulary import Mode

    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--mode", choices=[m.value for m in Mode], help="commands: one mode")
    parser.add_argument("--paper", choices=[p.value for p in Paper], default=Paper.A4.value)
    parser.add_argument("--format", choices=[f.value for f in Format], default=Format.PDF.value)
    parser.add_argument("--output", "-o", type=Path, required=True)


def _labels(args: argparse.Namespace) -> int:
    from hub.errors import ConfigError
    from hub.labels import sheets
    from hub.labels.render import Format, Paper
    from protocol.vocabulary import Mode

    paper, fmt = Paper(args.paper), Format(args.format)
    if args.kind == "commands":
        printed = sheets.commands(Mode(args.mode) if args.mode else None, paper, fmt)
    else:
        if args.config is None:
            raise ConfigError(f"labels {args.kind} reads the hub's database: give --config")
        engine = _engine(_settings(args.config))
        with engine.connect() as conn:
            printed = sheets.reference(conn, args.kind, paper, fmt)
        engine.dispose()
    args.output.write_bytes(printed.document)
    for why in printed.skipped:
        print(f"skipped {why}", file=sys.stderr)
    print(f"{printed.labels} labels written to {args.output}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from hub import logs
    from hub.bootstrap import bootstrap
    from hub.settings import load_settings

    settings = load_settings(args.config)
    logs.configure()
    return serve(bootstrap(settings))


def serve(hub: Hub) -> int:
    """Run a built hub until SIGTERM or Ctrl-C; an unavailable database never ends it."""
    import uvicorn

    hub.start()
    # Ingest makes many short-lived objects per scan; with the default threshold the cyclic
    # collector ran every 700 allocations and walked the long-lived modules each time.
    # Freezing what start-up made and collecting less often took in-process ingest from
    # about 10,000 to 15,000 scans/s (one machine, two runs each); memory stays bounded by
    # the queues, not by the collector.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    api = hub.settings.api
    served = uvicorn.Config(
        hub.api,
        host=api.host,
        port=api.port,
        log_level="warning",
        ssl_certfile=api.tls_cert,  # set: HTTPS only (a plain request gets no answer)
        ssl_keyfile=api.tls_key,
    )
    uvicorn.Server(served).run()
    hub.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
