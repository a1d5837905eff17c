"""Facts about the HTTP request that every area's routes need."""

from __future__ import annotations

from typing import Any

from litestar import Request

__all__ = ["client_ip"]


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    """The peer address as uvicorn reports it (behind a proxy, from X-Forwarded-For: `proxy_headers`)."""
    return request.client.host if request.client else None
