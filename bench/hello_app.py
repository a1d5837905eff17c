"""The baseline for bench/voice_incoming.py: a bare Litestar app answering one POST with a constant,
served by the same uvicorn as the service (`uvicorn hello_app:app`)."""

from __future__ import annotations

from litestar import Litestar, post


@post("/hello", status_code=200)
async def hello() -> str:
    return "hello"


app = Litestar(route_handlers=[hello])
