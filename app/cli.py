"""family-hotline serve | worker | db upgrade | users add | demo"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys

from core.settings import Settings, SettingsError

__all__ = ["main"]


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.migrate import upgrade_database_sync
    from app.server import create_app

    if settings.is_sqlite:
        # The embedded database is ours alone: bring it up to date so `serve` just works.
        upgrade_database_sync(settings.database_url)
    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True, log_level="info")


def _worker(settings: Settings) -> None:
    from app.wiring import sms_worker

    if settings.embedded_jobs:
        sys.exit("FH_REDIS_URL is not set: in embedded mode `serve` runs the jobs itself; no worker needed.")
    asyncio.run(sms_worker(settings).run())


async def _add_user(settings: Settings, username: str, name: str, role: str, password: str) -> None:
    from core.accounts import create_staff_user
    from core.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    async with create_sessionmaker(engine)() as session:
        await create_staff_user(session, username=username, display_name=name, role=role, password=password)
        await session.commit()
    await engine.dispose()


def _demo(settings: Settings) -> None:
    from app.demo import seed_demo

    asyncio.run(seed_demo(settings, print_summary=True))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin it loads at INFO; the revisions it applies are what an admin needs.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="family-hotline")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run the arq worker that sends SMS (needs FH_REDIS_URL)")
    db = sub.add_parser("db", help="database commands")
    db.add_argument("action", choices=["upgrade"])
    users = sub.add_parser("users", help="staff accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="add a staff user")
    add.add_argument("username")
    add.add_argument("--name", default="")
    add.add_argument(
        "--role", required=True, choices=["operator", "supervisor", "coordinator", "expert", "admin"]
    )
    add.add_argument("--password", help="read from the terminal when omitted")
    sub.add_parser("demo", help="create demo staff, experts and availability; print URLs and logins")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"family-hotline: {exc}")
    if args.command == "serve":
        _serve(settings, args.host, args.port)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "db":
        from app.migrate import upgrade_database_sync

        upgrade_database_sync(settings.database_url)
        print("database is up to date")
    elif args.command == "users":
        password = args.password or getpass.getpass("Password: ")
        asyncio.run(_add_user(settings, args.username, args.name or args.username, args.role, password))
        print(f"added {args.role} {args.username}")
    elif args.command == "demo":
        _demo(settings)


if __name__ == "__main__":
    main()
