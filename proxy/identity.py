"""Who is calling: tenant, user, session and API key, resolved once per request."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import Headers

from proxy.errors import AuthenticationFailed, ConfigurationError

DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Identity:
    tenant: str
    user: str | None = None
    session: str | None = None
    api_key_id: str | None = None  # a short digest of the key, never the key
    tier: str | None = None


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ClientKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="the key itself (prefer sha256)")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="sha256 hex digest of the key")
    tenant: str
    tier: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ClientKey:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("give exactly one of `key` or `sha256`")
        return self

    @property
    def digest(self) -> str:
        return self.sha256 or key_digest(self.key or "")


class ClientKeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[ClientKey]


class ClientKeys:
    """Client API keys that map to tenants; used when the proxy holds the upstream key."""

    def __init__(self, keys: list[ClientKey]) -> None:
        self._by_digest = {k.digest: k for k in keys}

    @classmethod
    def from_file(cls, path: Path) -> ClientKeys:
        try:
            data = yaml.safe_load(path.read_text())
            return cls(ClientKeysFile.model_validate(data).keys)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigurationError(f"client keys file {path}: {exc}") from exc

    def lookup(self, key: str) -> ClientKey | None:
        digest = key_digest(key)
        found = self._by_digest.get(digest)
        # Constant-time confirmation, so a lookup does not leak how close a guess was.
        if found is not None and hmac.compare_digest(found.digest, digest):
            return found
        return None


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def resolve_identity(headers: Headers, body: dict[str, Any] | None, client_keys: ClientKeys | None) -> Identity:
    """Tenant from the client's key (when keys are configured) or `x-railguard-tenant`; user from
    `x-railguard-user`, `safety_identifier` or `user`; session from `x-railguard-session` or request metadata."""
    token = bearer_token(headers)
    tier = None
    if client_keys is not None:
        found = client_keys.lookup(token) if token else None
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided." if token else "Missing bearer API key.")
        tenant, tier = found.tenant, found.tier
    else:
        tenant = headers.get("x-railguard-tenant") or DEFAULT_TENANT
        tier = headers.get("x-railguard-tier")
    body = body or {}
    user = headers.get("x-railguard-user") or _string(body.get("safety_identifier")) or _string(body.get("user"))
    metadata: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    session = (
        headers.get("x-railguard-session")
        or _string(metadata.get("railguard_session"))
        or _string(metadata.get("session_id"))
    )
    return Identity(
        tenant=tenant,
        user=user,
        session=session,
        api_key_id=key_digest(token)[:16] if token else None,
        tier=tier,
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
