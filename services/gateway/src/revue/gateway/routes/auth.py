"""Registration, tokens and API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from revue.gateway.context import Gateway
from revue.gateway.errors import ApiError, ErrorResponse
from revue.gateway.principal import Anonymous, Context, User
from revue.gateway.refresh_tokens import RefreshRefusedError
from revue.gateway.security import InvalidTokenError, new_api_key
from revue.gateway.tables import api_keys, users
from revue.gateway.validation import (
    ApiKeyRequest,
    PasswordGrant,
    RefreshGrant,
    TokenRequest,
    UserRegistrationRequest,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
NO_STORE = {"Cache-Control": "no-store"}


class UserView(BaseModel):
    id: UUID
    email: str
    full_name: str
    is_admin: bool = False


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class ApiKeyView(BaseModel):
    id: UUID
    name: str
    prefix: str
    created_at: datetime


class ApiKeyCreated(ApiKeyView):
    key: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 409, 422, 429)
}


@router.post(
    "/register",
    status_code=201,
    response_model=UserView,
    responses=ERRORS,
    dependencies=[Anonymous],
    summary="Create an account",
)
async def register(body: UserRegistrationRequest, context: Context) -> UserView:
    password_hash = await context.passwords.hash(body.password)
    async with context.db.begin() as connection:
        row = (
            await connection.execute(
                insert(users)
                .values(email=body.email, password_hash=password_hash, full_name=body.full_name)
                .on_conflict_do_nothing(index_elements=["email"])
                .returning(users.c.id, users.c.email, users.c.full_name, users.c.is_admin)
            )
        ).first()
    if row is None:
        raise ApiError(409, "an account with this email already exists")
    return UserView(id=row.id, email=row.email, full_name=row.full_name, is_admin=row.is_admin)


@router.post(
    "/token",
    response_model=TokenResponse,
    responses=ERRORS,
    dependencies=[Anonymous],
    summary="Exchange a password or a refresh token for tokens",
    description="A refresh token is good once: the answer carries the next one. Sending a used "
    "refresh token again revokes every token of its login (it was copied).",
)
async def token(body: TokenRequest, response: Response, context: Context) -> TokenResponse:
    response.headers.update(NO_STORE)
    family: str | None = None
    if isinstance(body, RefreshGrant):
        token_id, family_id = refresh_claims(context, body.refresh_token)
        try:
            user_id = await context.refresh_tokens.use(token_id, family_id)
        except RefreshRefusedError as error:
            raise ApiError(401, "invalid refresh token") from error
        where, family = users.c.id == user_id, family_id.hex
    else:
        where = users.c.email == str(body.email).lower()
    async with context.db.connect() as connection:
        row = (await connection.execute(select(users).where(where))).mappings().first()
    if isinstance(body, PasswordGrant):
        stored = row["password_hash"] if row else None
        if not await context.passwords.verify(stored, body.password):
            raise ApiError(401, "wrong email or password")
    if row is None:
        raise ApiError(401, "invalid refresh token")
    pair = context.tokens.issue(str(row["id"]), row["email"], row["is_admin"], family)
    await context.refresh_tokens.record(row["id"], pair)
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


def refresh_claims(context: Gateway, refresh_token: str) -> tuple[UUID, UUID]:
    """The token's id and family, from a refresh token whose signature holds."""
    try:
        claims = context.tokens.decode(refresh_token, "refresh")
        return UUID(claims["jti"]), UUID(claims["fam"])
    except (InvalidTokenError, KeyError, ValueError) as error:
        raise ApiError(401, "invalid refresh token") from error


@router.post(
    "/logout",
    status_code=204,
    responses=ERRORS,
    dependencies=[Anonymous],
    summary="Revoke a refresh token and every token of its login",
)
async def logout(body: RefreshGrant, context: Context) -> Response:
    _, family = refresh_claims(context, body.refresh_token)
    await context.refresh_tokens.revoke_family(family)
    return Response(status_code=204)


@router.get("/me", response_model=UserView, responses=ERRORS, summary="The calling user")
async def me(principal: User, context: Context) -> UserView:
    async with context.db.connect() as connection:
        row = (
            await connection.execute(select(users).where(users.c.id == principal.user_id))
        ).first()
    if row is None:
        raise ApiError(401, "account no longer exists")
    return UserView(id=row.id, email=row.email, full_name=row.full_name, is_admin=row.is_admin)


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=ERRORS,
    summary="Create an API key (the key is shown once)",
)
async def create_api_key(
    body: ApiKeyRequest, principal: User, response: Response, context: Context
) -> ApiKeyCreated:
    response.headers.update(NO_STORE)
    created = new_api_key()
    async with context.db.begin() as connection:
        active = await connection.scalar(
            select(func.count())
            .select_from(api_keys)
            .where(api_keys.c.user_id == principal.user_id, api_keys.c.revoked_at.is_(None))
        )
        if active >= context.settings.api_keys_per_user:
            raise ApiError(409, f"at most {context.settings.api_keys_per_user} active API keys")
        row = (
            await connection.execute(
                insert(api_keys)
                .values(
                    user_id=principal.user_id,
                    prefix=created.prefix,
                    key_hash=created.key_hash,
                    name=body.name,
                )
                .returning(api_keys.c.id, api_keys.c.created_at)
            )
        ).first()
    return ApiKeyCreated(
        id=row.id, name=body.name, prefix=created.prefix, created_at=row.created_at, key=created.key
    )


@router.get("/api-keys", response_model=list[ApiKeyView], responses=ERRORS, summary="Your API keys")
async def list_api_keys(principal: User, context: Context) -> list[ApiKeyView]:
    async with context.db.connect() as connection:
        rows = await connection.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at)
            .where(api_keys.c.user_id == principal.user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at)
        )
        return [ApiKeyView(**row._mapping) for row in rows]


@router.delete(
    "/api-keys/{key_id}", status_code=204, responses={**ERRORS, 404: {"model": ErrorResponse}}
)
async def revoke_api_key(key_id: UUID, principal: User, context: Context) -> Response:
    async with context.db.begin() as connection:
        result = await connection.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.user_id == principal.user_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
        )
    if result.rowcount == 0:
        raise ApiError(404, "no such API key")
    return Response(status_code=204)
