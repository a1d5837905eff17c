"""family-hotline serve | worker | db upgrade | users add | demo"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from app.process_logging import configure_logging
from core.accounts import Role
from core.errors import FormInvalid
from core.settings import Settings, SettingsError
from core.units import DEFAULT_UNIT_ID
from hotline.taxonomy import LINES

__all__ = ["main"]

# Several web processes need Redis. In embedded mode (no FH_REDIS_URL) each process would run its own
# in-process job runner and outbox sweep: every SMS would still go out once (the claim is a conditional
# UPDATE), but /dev/sms would list only what its own process printed, so a parent's code could be missing
# from the page staff read, and on SQLite the extra processes only queue behind the one write lock.
# Embedded mode is the one-process demo; with Redis, web processes only enqueue and `worker` sends.
WORKERS_NEED_REDIS = (
    "--workers above 1 needs FH_REDIS_URL (then run `family-hotline worker` for the SMS jobs): without "
    "Redis every web process would run its own job runner, and /dev/sms would show only the SMS of the "
    "process that happens to answer. Serve with one worker, or configure Redis."
)


def _worker_count(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, 1 or more, not {raw!r}")
    return count


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from app.migrate import upgrade_database_sync

    if workers > 1 and settings.embedded_jobs:
        sys.exit(WORKERS_NEED_REDIS)
    if settings.is_sqlite:
        # The embedded database is ours alone: bring it up to date so `serve` just works.
        upgrade_database_sync(settings.database_url)
    # An import string and a factory, not an app: each worker process builds its own (app/asgi.py).
    # The workers share one listening socket, so a request that holds one process busy does not stall
    # the requests the others accept.
    uvicorn.run(
        "app.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


def _worker(settings: Settings) -> None:
    from app.wiring import sms_worker

    if settings.embedded_jobs:
        sys.exit("FH_REDIS_URL is not set: in embedded mode `serve` runs the jobs itself; no worker needed.")
    asyncio.run(sms_worker(settings).run())


async def _add_user(
    settings: Settings,
    username: str,
    name: str,
    role: str,
    password: str,
    unit_id: int,
    line: str | None = None,
) -> None:
    from core.accounts import create_staff_user
    from core.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    async with create_sessionmaker(engine)() as session:
        await create_staff_user(
            session,
            username=username,
            display_name=name,
            role=role,
            password=password,
            unit_id=unit_id,
            line=line,
        )
        await session.commit()
    await engine.dispose()


async def _units(settings: Settings, args: argparse.Namespace) -> None:
    """`units list` prints the tree; `units add` adds a unit (a top unit when no --parent is given: the
    one way to start a second tree, which the web pages never do)."""
    from core.db import create_engine, create_sessionmaker
    from core.units import UNIT_KINDS, UnitKind, create_unit, units_within

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            if args.action == "add":
                if args.kind not in UNIT_KINDS:
                    raise ValueError(f"--kind must be one of {', '.join(UNIT_KINDS)}")
                unit = await create_unit(
                    session,
                    name=args.name,
                    kind=UnitKind(args.kind),
                    region_code=args.region,
                    parent_id=args.parent,
                )
                await session.commit()
                print(f"added unit {unit.id} {unit.name} ({unit.path})")
            else:
                for unit in await units_within(session, "/"):
                    indent = "  " * (unit.path.count("/") - 2)
                    state = "" if unit.active else " [deactivated]"
                    print(f"{unit.id:>5} {indent}{unit.name} {unit.kind} {unit.region_code}{state}")
    finally:
        await engine.dispose()


def _demo(settings: Settings) -> None:
    from app.demo import seed_demo

    asyncio.run(seed_demo(settings, print_summary=True))


def main(argv: list[str] | None = None) -> None:
    configure_logging()
    parser = argparse.ArgumentParser(prog="family-hotline")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="web processes sharing the port, so one slow request does not hold up the others "
        "(default 1); more than 1 needs FH_REDIS_URL, the SMS jobs then run in `family-hotline worker`",
    )
    sub.add_parser("worker", help="run the arq worker that sends SMS (needs FH_REDIS_URL)")
    db = sub.add_parser("db", help="database commands")
    db.add_argument("action", choices=["upgrade"])
    users = sub.add_parser("users", help="staff accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="add a staff user")
    add.add_argument("username")
    add.add_argument("--name", default="")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--password", help="read from the terminal when omitted")
    add.add_argument(
        "--unit",
        type=int,
        default=DEFAULT_UNIT_ID,
        help="id of the organisation unit (default: the top unit, 1)",
    )
    add.add_argument(
        "--line", choices=list(LINES), help="limit the account to one hotline line (default: every line)"
    )
    units = sub.add_parser("units", help="organisation units")
    units_sub = units.add_subparsers(dest="action", required=True)
    units_sub.add_parser("list", help="print the tree of units with their ids")
    add_unit = units_sub.add_parser("add", help="add a unit")
    add_unit.add_argument("name")
    add_unit.add_argument("--kind", required=True, help="youth_league_12355, womens_federation, …")
    add_unit.add_argument("--region", required=True, help="six-digit administrative division code")
    add_unit.add_argument("--parent", type=int, help="id of the unit above (none: a new top unit)")
    sub.add_parser("demo", help="create demo staff, experts and availability; print URLs and logins")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"family-hotline: {exc}")
    if args.command == "serve":
        _serve(settings, args.host, args.port, args.workers)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "db":
        from app.migrate import upgrade_database_sync

        upgrade_database_sync(settings.database_url)
        print("database is up to date")
    elif args.command == "users":
        password = args.password or getpass.getpass("Password: ")
        name = args.name or args.username
        try:
            asyncio.run(_add_user(settings, args.username, name, args.role, password, args.unit, args.line))
        except FormInvalid as exc:
            sys.exit("family-hotline: " + " ".join(exc.errors.values()))
        except ValueError as exc:  # no such unit
            sys.exit(f"family-hotline: {exc}")
        print(f"added {args.role} {args.username}")
    elif args.command == "units":
        try:
            asyncio.run(_units(settings, args))
        except FormInvalid as exc:
            sys.exit("family-hotline: " + " ".join(exc.errors.values()))
        except ValueError as exc:
            sys.exit(f"family-hotline: {exc}")
    elif args.command == "demo":
        _demo(settings)


if __name__ == "__main__":
    main()
