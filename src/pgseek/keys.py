"""API keys of the HTTP service: made here, stored as a SHA-256 digest, looked up on every request.

A key is ``pgseek_<id>_<secret>`` with 256 random bits of secret. Because the secret is random, not chosen by a
person, a fast digest is as safe as a slow password hash (nothing to guess from a dictionary), and it can be looked
up through a unique index in one query. The id is public: ``pgseek keys revoke ID`` names a key without its secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from pgseek.db import catalog
from pgseek.db import keys as stored_keys
from pgseek.db.connect import Pool, translate_errors
from pgseek.errors import AuthenticationError, NotFoundError
from pgseek.names import check_name
from pgseek.types import ApiKey, NewApiKey

PREFIX = "pgseek_"
_ID_BYTES = 6
_SECRET_BYTES = 32
# Anything else is refused before it costs a database query.
_SHAPE = re.compile(r"pgseek_k[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def generate() -> tuple[str, str]:
    """A new key id and the full key that contains it."""
    key_id = "k" + secrets.token_hex(_ID_BYTES)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(pool: Pool, tenant: str, name: str | None = None) -> NewApiKey:
    """A key for ``tenant`` (created if new); the returned ``key`` is the only time the secret is seen."""
    check_name(tenant, field="tenant", what="tenant")
    if name is not None:
        check_name(name, field="name", what="key name")
    key_id, key = generate()
    async with translate_errors("creating an API key"), pool.connection() as conn, conn.transaction():
        await catalog.ensure_tenant(conn, tenant)
        row = await stored_keys.insert_api_key(conn, key_id, tenant, name, digest(key))
    return NewApiKey(id=row.id, key=key, tenant=row.tenant, name=row.name, created_at=row.created_at)


async def revoke(pool: Pool, key_id: str) -> ApiKey:
    """Revoke a key by id: requests made with it get 401 from then on."""
    async with translate_errors("revoking an API key"), pool.connection() as conn, conn.transaction():
        row = await stored_keys.revoke_api_key(conn, key_id)
    if row is None:
        raise NotFoundError(f"no API key with id {key_id!r}; pgseek keys list shows the ids")
    return row


async def list_keys(pool: Pool, tenant: str | None = None) -> list[ApiKey]:
    async with translate_errors("listing API keys"), pool.connection() as conn:
        return await stored_keys.list_api_keys(conn, tenant)


async def authenticate(pool: Pool, key: str) -> ApiKey:
    """The live key behind ``key``, or AuthenticationError (unknown, malformed and revoked keys look the same)."""
    if not _SHAPE.fullmatch(key):
        raise AuthenticationError("the API key is not valid: send Authorization: Bearer <key from pgseek keys create>")
    async with translate_errors("checking an API key"), pool.connection() as conn:
        row = await stored_keys.find_api_key(conn, digest(key))
    if row is None:
        raise AuthenticationError("the API key is unknown or revoked: create one with pgseek keys create --tenant T")
    return row
