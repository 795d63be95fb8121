"""Credentials: argon2 password hashes, JWT access and refresh tokens, API keys.

Passwords are hashed with argon2id (verification runs in a thread: it is
deliberately slow). API keys are long random secrets shown once; only their
SHA-256 is stored (a fast hash is right for high-entropy secrets and keeps
key authentication cheap), found by a public prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
API_KEY_PREFIX = "rvk"


class Passwords:
    def __init__(self, time_cost: int, memory_cost_kib: int) -> None:
        self._hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
        # Verified when the email is unknown, so both paths cost the same.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash or self._decoy, password)
            except (VerificationError, InvalidHashError):
                return False

        matched = await asyncio.to_thread(check)
        return matched and stored_hash is not None


@dataclass(frozen=True)
class Principal:
    """Who is calling: from a verified access token or API key."""

    user_id: UUID
    email: str
    is_admin: bool
    via: str  # "token" or "api_key"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_id: str = ""  # the refresh token's jti: its row in refresh_tokens
    family: str = ""  # every refresh token descended from one login shares it


class InvalidTokenError(Exception):
    pass


class Tokens:
    def __init__(
        self, secret: str, issuer: str, access_ttl: int, refresh_ttl: int, memo_size: int = 10_000
    ) -> None:
        self._secret = secret
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        # Verified access tokens, until they expire: a client sends the same
        # token many times, and verifying it each time is pure cost.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._memo_size = memo_size

    def _encode(self, subject: str, kind: str, ttl: int, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "sub": subject,
            "typ": kind,
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            **extra,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(
        self, user_id: str, email: str, is_admin: bool, family: str | None = None
    ) -> TokenPair:
        """An access token and a refresh token (of `family`, else of a new one)."""
        extra = {"email": email, "adm": is_admin}
        refresh_id, family = uuid.uuid4().hex, family or uuid.uuid4().hex
        return TokenPair(
            access_token=self._encode(user_id, "access", self.access_ttl, extra),
            refresh_token=self._encode(
                user_id, "refresh", self.refresh_ttl, {"jti": refresh_id, "fam": family}
            ),
            expires_in=self.access_ttl,
            refresh_id=refresh_id,
            family=family,
        )

    def decode(self, token: str, kind: str) -> dict[str, Any]:
        memo = self._verified.get(token) if kind == "access" else None
        if memo is not None:
            if memo["exp"] > time.time():
                self._verified.move_to_end(token)
                return memo
            del self._verified[token]
        claims = self._verify(token, kind)
        if kind == "access":
            self._verified[token] = claims
            if len(self._verified) > self._memo_size:
                self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        if claims.get("typ") != kind:
            raise InvalidTokenError(f"not an {kind} token")
        return claims


@dataclass(frozen=True)
class NewApiKey:
    key: str
    prefix: str
    key_hash: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key, prefix, hash_api_key(key))


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
