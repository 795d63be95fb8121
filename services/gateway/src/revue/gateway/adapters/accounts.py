"""The repository of accounts and API keys (`tables.users`, `tables.api_keys`).

Everything the gateway asks of its users: create one, find one by id or
email, the owner of an API key, the administrator role (read on every admin
request, granted by an operator), and the keys themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.gateway.adapters.tables import api_keys, users
from revue.gateway.security import NewApiKey


class NoSuchUserError(LookupError):
    pass


class TooManyKeysError(Exception):
    """The account has its maximum of active API keys."""


@dataclass(frozen=True, slots=True)
class Account:
    id: UUID
    email: str
    full_name: str
    is_admin: bool
    password_hash: str | None = None


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, email: str, password_hash: str, full_name: str) -> Account | None:
        """The new account, or None when the email is taken."""
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    insert(users)
                    .values(email=email, password_hash=password_hash, full_name=full_name)
                    .on_conflict_do_nothing(index_elements=["email"])
                    .returning(users.c.id, users.c.email, users.c.full_name, users.c.is_admin)
                )
            ).first()
        return Account(row.id, row.email, row.full_name, row.is_admin) if row else None

    async def by_id(self, user_id: UUID) -> Account | None:
        return await self._one(users.c.id == user_id)

    async def by_email(self, email: str) -> Account | None:
        return await self._one(users.c.email == email.strip().lower())

    async def _one(self, where: ColumnElement[bool]) -> Account | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(users).where(where))).first()
        if row is None:
            return None
        return Account(row.id, row.email, row.full_name, row.is_admin, row.password_hash)

    # --- the administrator role -----------------------------------------------------------

    async def is_admin(self, user_id: UUID) -> bool | None:
        """None when the account no longer exists."""
        async with self.engine.connect() as connection:
            return await connection.scalar(select(users.c.is_admin).where(users.c.id == user_id))

    async def set_admin(self, email: str, is_admin: bool) -> None:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(users)
                .where(users.c.email == email.strip().lower())
                .values(is_admin=is_admin)
            )
        if result.rowcount == 0:
            raise NoSuchUserError(f"no account with the email {email!r}")

    async def administrators(self) -> list[str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(users.c.email).where(users.c.is_admin).order_by(users.c.email)
            )
            return [row.email for row in rows]

    # --- API keys ---------------------------------------------------------------------------

    async def key_owner(self, prefix: str) -> tuple[str, Account] | None:
        """(stored key hash, owner) of the active key with this prefix."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(api_keys.c.key_hash, users.c.id, users.c.email, users.c.is_admin)
                    .join(users, users.c.id == api_keys.c.user_id)
                    .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                )
            ).first()
        if row is None:
            return None
        return row.key_hash, Account(row.id, row.email, "", row.is_admin)

    async def add_key(
        self, user_id: UUID, key: NewApiKey, name: str, max_active: int
    ) -> dict[str, Any]:
        """Store a new key's hash; its id and creation time. TooManyKeysError past the limit."""
        async with self.engine.begin() as connection:
            active = await connection.scalar(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            )
            if active >= max_active:
                raise TooManyKeysError(f"at most {max_active} active API keys")
            row = (
                await connection.execute(
                    insert(api_keys)
                    .values(user_id=user_id, prefix=key.prefix, key_hash=key.key_hash, name=name)
                    .returning(api_keys.c.id, api_keys.c.created_at)
                )
            ).first()
        return {"id": row.id, "created_at": row.created_at}

    async def keys(self, user_id: UUID) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at)
                .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.created_at)
            )
            return [dict(row._mapping) for row in rows]

    async def revoke_key(self, user_id: UUID, key_id: UUID) -> bool:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    api_keys.c.user_id == user_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now(UTC))
            )
        return result.rowcount > 0
