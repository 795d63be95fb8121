"""The cdn's current manifest, for clients that only know the gateway.

Public like the origin's own `/assets/manifest.json` (it lists public
files), limited per client address like every anonymous route. The gateway
asks the cdn over the bus and passes the manifest's bytes through unparsed.
"""

from __future__ import annotations

import gzip
from typing import Any

from fastapi import APIRouter, Request, Response

from revue.common.contracts import subjects
from revue.gateway.adapters.bus_client import ask_raw
from revue.gateway.entrypoints.http.principal import Anonymous, Context
from revue.gateway.errors import ApiError, ErrorResponse
from revue.gateway.views import none_match, strong_etag

router = APIRouter(prefix="/api/v1/cdn", tags=["cdn"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (404, 429, 503)
}


@router.get(
    "/manifest",
    dependencies=[Anonymous],
    responses={**ERRORS, 200: {"content": {"application/json": {}}}, 304: {}},
    summary="Logical path -> hashed URL, size, hash, type and encodings of every asset",
)
async def manifest(request: Request, context: Context) -> Response:
    compressed = await ask_raw(context, subjects.CDN_MANIFEST, "cdn")
    if not compressed:
        raise ApiError(404, "nothing deployed yet")
    body = gzip.decompress(compressed)
    etag = strong_etag(body)
    # Revalidate every time: a new deployment changes the manifest at once.
    headers = {"ETag": etag, "Cache-Control": "public, no-cache"}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
