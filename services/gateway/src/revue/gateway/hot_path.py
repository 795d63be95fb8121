"""The cache-hit lane of `POST /api/v1/analyze`: answered without FastAPI's request machinery.

Most synchronous analyses of a busy suite are repeats, answered from this
process's L1 cache. For those, FastAPI's per-request work (building a
Request, solving the dependency graph, validating the response model twice)
costs several times the answer itself (see bench/RESULTS.md). This lane
answers them directly: verified bearer token -> validated body -> L1 hit ->
rate limit -> response, recorded like any other synchronous result.

It handles the hit only. Anything else (no or unverifiable credentials, an
API key, a body that does not validate, a cache miss) goes to the full
application with the body replayed untouched, so errors, the NATS path and
every other behaviour keep exactly one implementation. It sits inside the
gateway's own middleware, so body limits, security and rate-limit headers,
CORS and compression apply to its answers as to any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revue.gateway.context import Gateway
from revue.gateway.errors import error_body, validation_success_total
from revue.gateway.middleware import send_json, send_payload
from revue.gateway.principal import Principal, principal_from_token
from revue.gateway.routes.analyses import cache_key, job_row, to_run
from revue.gateway.security import InvalidTokenError
from revue.gateway.validation import CodeAnalysisRequest

PATH = "/api/v1/analyze"
lane_answers_total = Counter(
    "gateway_cache_lane_answers_total",
    "POST /analyze cache hits answered in the lane, without FastAPI's request machinery",
)


class CachedAnalyzeLane:
    def __init__(self, app: ASGIApp, context: Gateway) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PATH)
            or not self.context.cache.config.enabled
        ):
            await self.app(scope, receive, send)
            return
        principal = self._bearer_principal(scope)
        if principal is None:
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive)
        replay = replaying(body, complete, receive)
        answer = self._cached_answer(body, principal) if complete else None
        if answer is None:
            await self.app(scope, replay, send)
            return
        if not await self._within_rate_limit(scope, send, principal):
            return
        row, payload = answer
        self.context.cache.count_local_hit()
        lane_answers_total.inc()
        validation_success_total.labels(PATH).inc()
        self.context.recorder.record(row)
        await send_payload(send, 200, payload)

    def _bearer_principal(self, scope: Scope) -> Principal | None:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return None
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or credential.startswith("rvk_"):
                    return None
                try:
                    return principal_from_token(self.context.tokens, credential[:4096])
                except (InvalidTokenError, ValueError):
                    return None  # the full app answers 401 with its reason
        return None

    def _cached_answer(
        self, body: bytes, principal: Principal
    ) -> tuple[dict[str, Any], bytes] | None:
        try:
            request = CodeAnalysisRequest.model_validate_json(body)
        except ValidationError:
            return None  # the full app answers 422 with every field's reason
        run = to_run(request, principal)
        key = cache_key(self.context, run)
        raw = self.context.cache.peek_local(key) if key is not None else None
        if raw is None:
            return None
        row = job_row(run, "sync", request.model_dump(), None)
        row.update(
            status="succeeded",
            result=orjson.loads(raw),
            error=None,
            created_at=run.submitted_at,
            completed_at=datetime.now(UTC),
        )
        view = {
            "id": row["id"],
            "status": "succeeded",
            "mode": "sync",
            "priority": row["priority"],
            "language": row["language"],
            "created_at": row["created_at"],
            "completed_at": row["completed_at"],
            "result": orjson.Fragment(raw),  # stored as validated JSON: sent as is
            "error": None,
        }
        return row, orjson.dumps(view, option=orjson.OPT_UTC_Z)

    async def _within_rate_limit(self, scope: Scope, send: Send, principal: Principal) -> bool:
        context = self.context
        if not context.settings.rate_limit_enabled:
            return True
        decision = await context.limiter.check(context.policies["default"], str(principal.user_id))
        scope.setdefault("state", {})["ratelimit_headers"] = decision.headers()
        if decision.allowed:
            return True
        headers = [
            (name.lower().encode(), value.encode()) for name, value in decision.headers().items()
        ]
        await send_json(send, 429, error_body(429, "rate limit 'default' exceeded"), headers)
        return False


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and False when the client went away (or the size limit cut it)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the next app, then defers to the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        if not complete:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
