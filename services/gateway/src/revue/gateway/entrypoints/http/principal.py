"""Who is calling, and may they call now: authentication and rate-limit dependencies.

A principal comes from a JWT access token (`Authorization: Bearer ...`) or an
API key (`X-API-Key: rvk_...`, or as the bearer token). Protected routes are
limited per principal, anonymous ones (register, token) per client address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from revue.gateway.context import Gateway, gateway
from revue.gateway.errors import ApiError
from revue.gateway.security import (
    InvalidTokenError,
    Principal,
    Tokens,
    api_key_matches,
    api_key_prefix,
)

bearer_scheme = HTTPBearer(auto_error=False, description="JWT access token or API key")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="revue"'}


def unauthenticated(detail: str) -> ApiError:
    return ApiError(401, detail, headers=CHALLENGE)


async def from_api_key(context: Gateway, key: str) -> Principal:
    prefix = api_key_prefix(key)
    if prefix is None:
        raise unauthenticated("malformed API key")
    found = await context.accounts.key_owner(prefix)
    if found is None or not api_key_matches(key, found[0]):
        raise unauthenticated("invalid API key")
    owner = found[1]
    return Principal(owner.id, owner.email, owner.is_admin, "api_key")


async def authenticate(
    context: Gateway = Depends(gateway),
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    api_key: str | None = Depends(api_key_scheme),
) -> Principal:
    if api_key:
        return await from_api_key(context, api_key[:200])
    if bearer is None:
        raise unauthenticated("missing credentials: send a bearer token or an X-API-Key")
    credential = bearer.credentials[:4096]
    if credential.startswith("rvk_"):
        return await from_api_key(context, credential)
    try:
        return principal_from_token(context.tokens, credential)
    except (InvalidTokenError, ValueError) as error:
        raise unauthenticated(f"invalid token: {error}") from error


def principal_from_token(tokens: Tokens, credential: str) -> Principal:
    """Raises InvalidTokenError (or ValueError for a malformed subject)."""
    claims = tokens.decode(credential, "access")
    return Principal(UUID(claims["sub"]), claims.get("email", ""), bool(claims.get("adm")), "token")


def limited(policy_name: str) -> Callable[..., Awaitable[Principal]]:
    """Authenticate, then apply the named per-principal limit."""

    async def dependency(
        request: Request,
        principal: Principal = Depends(authenticate),
        context: Gateway = Depends(gateway),
    ) -> Principal:
        await enforce(request, context, policy_name, str(principal.user_id))
        return principal

    return dependency


def client_address(request: Request, trusted_proxies: int) -> str:
    """The address the rate limit counts: the peer, or the one our proxies saw.

    Each proxy appends the address it was reached from to X-Forwarded-For,
    so with `trusted_proxies` proxies in front of us the client is that many
    entries from the right; anything left of it was written by the client
    and is never believed. Fewer entries than proxies: not through them all.
    """
    peer = request.client.host if request.client else "unknown"
    if trusted_proxies <= 0:
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    hops = [hop for hop in hops if hop]
    return hops[-trusted_proxies][:64] if len(hops) >= trusted_proxies else peer


async def anonymous_limit(request: Request, context: Gateway = Depends(gateway)) -> None:
    address = client_address(request, context.settings.trusted_proxy_count)
    await enforce(request, context, "anonymous", address)


async def enforce(request: Request, context: Gateway, policy_name: str, identity: str) -> None:
    if not context.settings.rate_limit_enabled:
        return
    decision = await context.limiter.check(context.policies[policy_name], identity)
    request.state.ratelimit_headers = decision.headers()
    if not decision.allowed:
        raise ApiError(429, f"rate limit '{policy_name}' exceeded", headers=decision.headers())


User = Annotated[Principal, Depends(limited("default"))]
BatchUser = Annotated[Principal, Depends(limited("batch"))]
Context = Annotated[Gateway, Depends(gateway)]


async def require_admin(principal: User, context: Context) -> Principal:
    """Asked of the database on every admin request, not of the token: a demoted or
    deleted account loses its admin routes at once, not when its token expires."""
    is_admin = await context.accounts.is_admin(principal.user_id)
    if is_admin is None:
        raise unauthenticated("account no longer exists")
    if not is_admin:
        raise ApiError(403, "administrators only")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]
Anonymous = Depends(anonymous_limit)
