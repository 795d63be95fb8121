"""Registration, tokens and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel

from revue.gateway.adapters.accounts import Account, TooManyKeysError
from revue.gateway.adapters.refresh_tokens import RefreshRefusedError
from revue.gateway.context import Gateway
from revue.gateway.entrypoints.http.principal import Anonymous, Context, User
from revue.gateway.errors import ApiError, ErrorResponse
from revue.gateway.security import InvalidTokenError, new_api_key
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
    account = await context.accounts.create(body.email, password_hash, body.full_name)
    if account is None:
        raise ApiError(409, "an account with this email already exists")
    return view_of_account(account)


def view_of_account(account: Account) -> UserView:
    return UserView(
        id=account.id, email=account.email, full_name=account.full_name, is_admin=account.is_admin
    )


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
        account, family = await context.accounts.by_id(user_id), family_id.hex
    else:
        account = await context.accounts.by_email(str(body.email))
    if isinstance(body, PasswordGrant):
        stored = account.password_hash if account else None
        if not await context.passwords.verify(stored, body.password):
            raise ApiError(401, "wrong email or password")
    if account is None:
        raise ApiError(401, "invalid refresh token")
    pair = context.tokens.issue(str(account.id), account.email, account.is_admin, family)
    await context.refresh_tokens.record(account.id, pair)
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
    account = await context.accounts.by_id(principal.user_id)
    if account is None:
        raise ApiError(401, "account no longer exists")
    return view_of_account(account)


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
    try:
        row = await context.accounts.add_key(
            principal.user_id, created, body.name, context.settings.api_keys_per_user
        )
    except TooManyKeysError as error:
        raise ApiError(409, str(error)) from error
    return ApiKeyCreated(
        id=row["id"],
        name=body.name,
        prefix=created.prefix,
        created_at=row["created_at"],
        key=created.key,
    )


@router.get("/api-keys", response_model=list[ApiKeyView], responses=ERRORS, summary="Your API keys")
async def list_api_keys(principal: User, context: Context) -> list[ApiKeyView]:
    return [ApiKeyView(**row) for row in await context.accounts.keys(principal.user_id)]


@router.delete(
    "/api-keys/{key_id}", status_code=204, responses={**ERRORS, 404: {"model": ErrorResponse}}
)
async def revoke_api_key(key_id: UUID, principal: User, context: Context) -> Response:
    if not await context.accounts.revoke_key(principal.user_id, key_id):
        raise ApiError(404, "no such API key")
    return Response(status_code=204)
