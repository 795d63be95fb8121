"""The cdn's HTTP entry points: the asset origin first, then the admin API.

`/assets/...` is answered by the origin (`OriginFirst`, the app's front door)
before FastAPI sees the request: serving a file needs none of the API's
machinery. The REST API (deployments, invalidations as in seed 001, the nginx
config) needs the operators' bearer token, all but the manifest.
"""

from __future__ import annotations

import hmac
import tempfile
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from revue.cdn.origin import PREFIX, Origin
from revue.cdn.services import CdnError, CdnService
from revue.common.contracts.events import AssetPath, ShortText
from revue.common.settings import MIN_SECRET_BYTES, configured_secret


class OriginFirst:
    """The front door: `/assets/...` to the origin, everything else to FastAPI."""

    def __init__(self, app: ASGIApp, origin: Origin) -> None:
        self.app = app
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(PREFIX):
            await self.origin(scope, receive, send)
        else:
            await self.app(scope, receive, send)


router = APIRouter(prefix="/api/v1/cdn", tags=["cdn"])
bearer = HTTPBearer(auto_error=False, description="CDN_ADMIN_TOKEN")


def cdn(request: Request) -> CdnService:
    return request.app.state.service


async def operator(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    token = configured_secret(cdn(request).settings.cdn_admin_token)
    if token is None:
        raise HTTPException(
            503,
            f"the admin API is not configured: set CDN_ADMIN_TOKEN (at least {MIN_SECRET_BYTES}"
            " bytes)",
        )
    given = credentials.credentials.encode() if credentials else b""
    if not given or not hmac.compare_digest(given, token.encode()):
        raise HTTPException(
            401, "a valid operator token is required", {"WWW-Authenticate": "Bearer"}
        )


Operator = Depends(operator)
Context = Annotated[CdnService, Depends(cdn)]


class InvalidationRequest(BaseModel):
    paths: Annotated[list[AssetPath], Field(max_length=10_000)] = Field(default_factory=list)
    patterns: Annotated[list[AssetPath], Field(max_length=1_000)] = Field(default_factory=list)
    surrogate_keys: Annotated[list[ShortText], Field(max_length=10_000)] = Field(
        default_factory=list
    )
    soft: bool = False


@router.post(
    "/deployments",
    status_code=201,
    dependencies=[Operator],
    summary="Upload a build (tar.gz or zip)",
)
async def upload_deployment(request: Request, context: Context) -> dict[str, Any]:
    limit = context.settings.cdn_max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"archive larger than {limit} bytes")
    incoming = context.store.root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=incoming, suffix=".upload") as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, f"archive larger than {limit} bytes")
            spool.write(chunk)
        spool.flush()
        if received == 0:
            raise HTTPException(422, "empty upload: send the archive as the request body")
        return await context.deploy_archive(Path(spool.name))


@router.get("/deployments", dependencies=[Operator], summary="Deployments, newest first")
async def list_deployments(context: Context) -> list[dict[str, Any]]:
    return await context.deployments()


@router.get("/manifest", summary="The current deployment's manifest")
async def manifest(context: Context) -> dict[str, Any]:
    return context.manifest()


@router.post(
    "/invalidations", status_code=202, dependencies=[Operator], summary="Queue an invalidation"
)
async def queue_invalidation(body: InvalidationRequest, context: Context) -> dict[str, Any]:
    return await context.queue_invalidation(
        list(body.paths), list(body.patterns), list(body.surrogate_keys), body.soft
    )


@router.post(
    "/invalidations/all", status_code=202, dependencies=[Operator], summary="Invalidate everything"
)
async def invalidate_all(context: Context, soft: bool = False) -> dict[str, str]:
    return await context.invalidate_all(soft)


@router.get("/invalidations/pending", dependencies=[Operator], summary="Paths waiting to be purged")
async def pending(context: Context) -> dict[str, Any]:
    return {"paths": await context.pending_paths()}


@router.get(
    "/invalidations/{request_id}", dependencies=[Operator], summary="One invalidation request"
)
async def invalidation(request_id: UUID, context: Context) -> dict[str, Any]:
    return await context.invalidation(request_id)


@router.get(
    "/nginx.conf",
    dependencies=[Operator],
    response_class=PlainTextResponse,
    summary="nginx configuration",
)
async def nginx(context: Context) -> str:
    return context.nginx_conf()


async def cdn_error(_: Request, error: Exception) -> JSONResponse:
    """A use case's refusal, in FastAPI's own error shape."""
    assert isinstance(error, CdnError)
    return JSONResponse({"detail": error.detail}, status_code=error.status)
