"""API keys: `ct_live_` + 32 random bytes (base64url), stored only as a SHA-256 hash; the observe key.

A key is shown once, when it is created. The database holds its hash, so a leaked database grants nothing;
SHA-256 rather than a slow password hash because the secret is 256 random bits (nothing to brute-force) and
ingest checks a key on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import orjson

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_uuid

KEY_PREFIX = "ct_live_"
KEY_RANDOM_BYTES = 32
# What a listing shows of a key: enough to tell keys apart, far too little to use.
DISPLAY_CHARS = 12


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def parse_scopes(text: str | list[str]) -> frozenset[Scope]:
    """`read,ingest` -> {READ, INGEST}; raises ValueError naming an unknown scope."""
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if not parts:
        raise ValueError("at least one scope is needed: ingest, read or admin")
    try:
        return frozenset(Scope(p) for p in parts)
    except ValueError as exc:
        raise ValueError(f"unknown scope in {parts}: use ingest, read or admin") from exc


def new_secret() -> str:
    """A fresh key: the prefix and 32 random bytes, base64url without padding (43 characters)."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(KEY_RANDOM_BYTES)).rstrip(b"=").decode()
    return KEY_PREFIX + raw


UI_TOKEN_PREFIX = "ct_ui_"


def new_ui_token() -> str:
    """A web UI session's token (the value of its HttpOnly cookie): 32 random bytes, like a key."""
    return UI_TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(KEY_RANDOM_BYTES)).rstrip(b"=").decode()


def looks_like_ui_token(token: str) -> bool:
    return token.startswith(UI_TOKEN_PREFIX) and len(UI_TOKEN_PREFIX) + 43 <= len(token) <= 200


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(secret: str) -> bool:
    return secret.startswith(KEY_PREFIX) and len(secret) >= len(KEY_PREFIX) + 43 and len(secret) <= 200


@dataclass(frozen=True)
class ObserveKey:
    """What the original plugin's setup takes: the API key and the ids it was issued for."""

    api_key: str
    tenant_id: str
    agent_id: str

    def encode(self) -> str:
        body = orjson.dumps({"apiKey": self.api_key, "tenantId": self.tenant_id, "agentId": self.agent_id})
        return base64.urlsafe_b64encode(body).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> ObserveKey:
        """Raises ValueError when `text` is not base64url JSON with apiKey and two UUIDs."""
        try:
            padded = text.strip() + "=" * (-len(text.strip()) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded))
            return cls(
                api_key=str(data["apiKey"]),
                tenant_id=check_uuid(str(data["tenantId"]), "tenantId"),
                agent_id=check_uuid(str(data["agentId"]), "agentId"),
            )
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, InvalidIdError) as exc:
            raise ValueError(f"not an observe key: {exc}") from exc
