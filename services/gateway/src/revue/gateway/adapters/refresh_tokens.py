"""Refresh tokens that rotate: each is good once, and a replayed one revokes its family.

A login starts a family. Using a refresh token marks it used and issues the
next one of the same family; using it again means someone else holds a copy
(stolen, or leaked from a log), so every token of the family is revoked and
both holders must log in again (OAuth 2.0 Security BCP, refresh token
rotation). Logout revokes the family of the token it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.gateway.adapters.tables import refresh_tokens
from revue.gateway.security import TokenPair


class RefreshRefusedError(Exception):
    """The refresh token is unknown, expired, revoked or used before (its family is revoked)."""


class RefreshTokens:
    def __init__(self, engine: AsyncEngine, ttl: int) -> None:
        self.engine = engine
        self.ttl = ttl

    async def record(self, user_id: UUID, pair: TokenPair) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                insert(refresh_tokens).values(
                    id=UUID(pair.refresh_id),
                    family_id=UUID(pair.family),
                    user_id=user_id,
                    expires_at=datetime.now(UTC) + timedelta(seconds=self.ttl),
                )
            )

    async def use(self, token_id: UUID, family: UUID) -> UUID:
        """Spend a token once; its user. A second use revokes the family and raises."""
        now = datetime.now(UTC)
        async with self.engine.begin() as connection:
            spent = (
                await connection.execute(
                    update(refresh_tokens)
                    .where(
                        and_(
                            refresh_tokens.c.id == token_id,
                            refresh_tokens.c.family_id == family,
                            refresh_tokens.c.used_at.is_(None),
                            refresh_tokens.c.revoked_at.is_(None),
                            refresh_tokens.c.expires_at > now,
                        )
                    )
                    .values(used_at=now)
                    .returning(refresh_tokens.c.user_id)
                )
            ).first()
            if spent is not None:
                return spent.user_id
            known = await connection.scalar(
                select(refresh_tokens.c.id).where(refresh_tokens.c.id == token_id)
            )
        if known is not None:  # used or revoked before: a replay
            await self.revoke_family(family)
        raise RefreshRefusedError("refresh token already used, revoked or expired")

    async def revoke_family(self, family: UUID) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return result.rowcount
