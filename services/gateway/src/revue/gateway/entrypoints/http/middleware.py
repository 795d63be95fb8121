"""ASGI middleware of the gateway: body size limit and response headers.

The body limit is enforced while the body streams in: a declared
Content-Length over the limit is refused before a byte is read, and a body
that turns out larger is cut off at the limit, never buffered whole.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revue.gateway.errors import error_body

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The interactive docs load their scripts from a CDN; everything else is JSON.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
API_HEADERS = (*SECURITY_HEADERS, API_CSP)


def rate_limit_headers(limits: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy`, `RateLimit` (and `Retry-After`) as raw ASGI headers."""
    return [(name.lower().encode(), value.encode()) for name, value in limits.items()]


async def send_json(send: Send, status: int, body: dict, headers: list | None = None) -> None:
    await send_payload(send, status, orjson.dumps(body), headers)


async def send_payload(
    send: Send, status: int, payload: bytes, headers: list | None = None
) -> None:
    """A JSON response straight to ASGI, for answers given outside FastAPI."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        detail = f"request body exceeds the limit of {limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, error_body(400, "invalid Content-Length"))
                    return
                if declared > limit:
                    await send_json(send, 413, error_body(413, detail))
                    return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now; to the app the client simply went away, so it
                    # stops reading (raising would become FastAPI's 400).
                    refused = True
                    if not started:
                        await send_json(send, 413, error_body(413, detail))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # we already answered 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class ResponseHeaders:
    """Security headers on every response; rate-limit headers where a limit applied."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not docs:
                    headers.append(API_CSP)
                limits = scope.get("state", {}).get("ratelimit_headers") or {}
                present = {name.lower() for name, _ in headers}
                for name, value in rate_limit_headers(limits):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
