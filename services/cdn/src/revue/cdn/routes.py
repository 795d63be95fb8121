"""The cdn service's REST API: deployments, invalidations (seed API), nginx config.

Assets themselves are served by the origin (`/assets/...`), not from here.
Everything but the manifest needs the operators' bearer token.
"""

from __future__ import annotations

import hmac
import tempfile
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from revue.cdn.archive import UnsafeArchiveError
from revue.cdn.deploy import Deployer
from revue.cdn.invalidation.dispatcher import Invalidator, is_pattern
from revue.cdn.nginx import brotli_choice, nginx_config
from revue.cdn.settings import CdnSettings
from revue.cdn.store import AssetStore
from revue.common.contracts.events import AssetPath, RequestInvalidation, ShortText
from revue.common.settings import MIN_SECRET_BYTES, configured_secret

router = APIRouter(prefix="/api/v1/cdn", tags=["cdn"])
bearer = HTTPBearer(auto_error=False, description="CDN_ADMIN_TOKEN")


class Cdn:
    """What the routes need, built once in app.py."""

    def __init__(
        self, settings: CdnSettings, store: AssetStore, deployer: Deployer, invalidator: Invalidator
    ) -> None:
        self.settings, self.store, self.deployer, self.invalidator = (
            settings,
            store,
            deployer,
            invalidator,
        )


def cdn(request: Request) -> Cdn:
    return request.app.state.cdn


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
Context = Annotated[Cdn, Depends(cdn)]


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
        try:
            return await context.deployer.deploy_archive(Path(spool.name))
        except UnsafeArchiveError as error:
            raise HTTPException(422, f"archive refused: {error}") from error


@router.get("/deployments", dependencies=[Operator], summary="Deployments, newest first")
async def list_deployments(context: Context) -> list[dict[str, Any]]:
    return await context.deployer.history()


@router.get("/manifest", summary="The current deployment's manifest")
async def manifest(context: Context) -> dict[str, Any]:
    current = context.store.current()
    if current is None:
        raise HTTPException(404, "nothing deployed yet")
    return current.model_dump()


@router.post(
    "/invalidations", status_code=202, dependencies=[Operator], summary="Queue an invalidation"
)
async def queue_invalidation(body: InvalidationRequest, context: Context) -> dict[str, Any]:
    if not (body.paths or body.patterns or body.surrogate_keys):
        raise HTTPException(422, "name at least one path, pattern or surrogate key")
    # Glob patterns among the paths are patterns too (`/assets/js/app.*.js`, as in the seed).
    paths = [path for path in body.paths if not is_pattern(path)]
    patterns = [*body.patterns, *(path for path in body.paths if is_pattern(path))]
    request, unmatched = context.invalidator.matched(
        RequestInvalidation(**{**body.model_dump(), "paths": paths, "patterns": patterns})
    )
    if not (request.paths or request.patterns or request.surrogate_keys):
        raise HTTPException(422, f"no deployed path matches {', '.join(unmatched)}: nothing sent")
    await context.invalidator.request(request)
    return {
        "request_id": str(request.request_id),
        "status": "pending",
        "patterns": request.patterns,
        "unmatched_patterns": unmatched,
    }


@router.post(
    "/invalidations/all", status_code=202, dependencies=[Operator], summary="Invalidate everything"
)
async def invalidate_all(context: Context, soft: bool = False) -> dict[str, str]:
    request = await context.invalidator.invalidate_all(soft=soft)
    return {"request_id": str(request.request_id), "status": "pending"}


@router.get("/invalidations/pending", dependencies=[Operator], summary="Paths waiting to be purged")
async def pending(context: Context) -> dict[str, Any]:
    return {"paths": await context.invalidator.get_pending_invalidations()}


@router.get(
    "/invalidations/{request_id}", dependencies=[Operator], summary="One invalidation request"
)
async def invalidation(request_id: UUID, context: Context) -> dict[str, Any]:
    row = await context.invalidator.store.get(request_id)
    if row is None:
        raise HTTPException(404, "no such invalidation")
    return row


@router.get(
    "/nginx.conf",
    dependencies=[Operator],
    response_class=PlainTextResponse,
    summary="nginx configuration",
)
async def nginx(context: Context) -> str:
    current = context.store.current()
    if current is None:
        raise HTTPException(404, "nothing deployed yet")
    return nginx_config(
        current,
        context.store.root,
        context.deployer.types,
        origin=f"127.0.0.1:{context.settings.port}",
        brotli=brotli_choice(context.settings.cdn_nginx_brotli),
    )
