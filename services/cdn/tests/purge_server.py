"""A local stand-in for the purge back ends, for the tests (not a mock of our code).

It speaks the wire formats the back ends publish, checks their credentials
and per-call limits, and answers like them when called too fast (429 with
Retry-After) or when down (503):

    PURGE <url>, PURGE / with xkey / xkey-softpurge, BAN / with X-Ban-Url   (Varnish)
    POST /service/<id>/purge (Surrogate-Key, <= 256), /purge/<url>, /service/<id>/purge_all (Fastly)
    POST /client/v4/zones/<zone>/purge_cache (files / tags <= 100, purge_everything) (Cloudflare)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revue.devkit.embedded.probes import free_port
from revue.devkit.testing.waiting import wait_until

TOKEN = "purge-test-token"


@dataclass
class PurgeServer:
    rate: float = 1_000.0  # calls per second before 429
    burst: int = 1_000
    down: bool = False
    calls: list[dict] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)  # times of 429s
    call_times: list[float] = field(default_factory=list)  # times of every call that got through
    url: str = ""

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = time.monotonic()

    def _limited(self) -> Response | None:
        if self.down:
            return Response("down", status_code=503)
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            self.refused.append(now)
            return JSONResponse(
                {"error": "rate limited"}, status_code=429, headers={"Retry-After": "1"}
            )
        self._tokens -= 1
        self.call_times.append(now)
        return None

    async def varnish(self, request: Request) -> Response:
        if (refusal := self._limited()) is not None:
            return refusal
        headers = {
            k: v for k, v in request.headers.items() if k in ("xkey", "xkey-softpurge", "x-ban-url")
        }
        self.calls.append(
            {"api": "varnish", "method": request.method, "path": request.url.path, **headers}
        )
        return Response(status_code=200)

    async def fastly(self, request: Request) -> Response:
        if request.headers.get("fastly-key") != TOKEN:
            return JSONResponse(
                {"msg": "Provided credentials are missing or invalid"}, status_code=401
            )
        if (refusal := self._limited()) is not None:
            return refusal
        keys = request.headers.get("surrogate-key", "").split()
        if len(keys) > 256:
            return JSONResponse({"msg": "too many keys"}, status_code=400)
        self.calls.append(
            {
                "api": "fastly",
                "path": request.url.path,
                "keys": keys,
                "soft": request.headers.get("fastly-soft-purge") == "1",
            }
        )
        return JSONResponse({"status": "ok"})

    async def cloudflare(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"success": False, "errors": [{"code": 10000}]}, status_code=403)
        if (refusal := self._limited()) is not None:
            return refusal
        body = await request.json()
        for kind in ("files", "tags"):
            if len(body.get(kind, [])) > 100:
                return JSONResponse({"success": False, "errors": [{"code": 1015}]}, status_code=400)
        self.calls.append({"api": "cloudflare", **body})
        return JSONResponse({"success": True, "result": {"id": "x"}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/service/{service}/purge", self.fastly, methods=["POST"]),
                Route("/service/{service}/purge_all", self.fastly, methods=["POST"]),
                Route("/purge/{url:path}", self.fastly, methods=["POST"]),
                Route("/client/v4/zones/{zone}/purge_cache", self.cloudflare, methods=["POST"]),
                Route("/{path:path}", self.varnish, methods=["PURGE", "BAN"]),
            ]
        )


@contextlib.asynccontextmanager
async def running(server: PurgeServer):
    port = free_port()
    # h11: httptools knows PURGE but not Varnish's BAN
    config = uvicorn.Config(
        server.app(), host="127.0.0.1", port=port, log_config=None, access_log=False, http="h11"
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    await wait_until(lambda: uv.started, timeout=10, message="purge server started")
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        uv.should_exit = True
        await task
