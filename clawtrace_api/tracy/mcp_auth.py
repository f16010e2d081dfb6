"""API keys on the MCP endpoint: the SDK's bearer-token hook (`TokenVerifier`) checked against the API's key cache.

The SDK's middleware calls `KeyVerifier.verify_token` on every HTTP request, so a revoked key stops working
within the key cache's TTL, exactly as on the routes; no key or an unknown one is a 401, a key without the
`read` scope a 403 (`AuthSettings.required_scopes`). The principal a tool call acts as is read back from the
request that carried it (`principal_of`): the tenant is the key's, never an argument's or a header's.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import ConfigDict

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import principal_of_key
from clawtrace_api.key_cache import KeyCache
from clawtrace_api.keys import Scope


class KeyAccess(AccessToken):
    """What the SDK keeps of a verified key for the rest of the request: the API's own `Principal`.

    `token` holds the key id, not the secret: the SDK keeps this object on the request (and pydantic puts every
    field in its repr), and nothing downstream needs the secret again."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    principal: Principal


class KeyVerifier:
    """`mcp.server.auth.provider.TokenVerifier` over the API's key cache."""

    def __init__(self, keys: KeyCache) -> None:
        self.keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = await principal_of_key(self.keys, token.strip())
        if principal is None:
            return None
        return KeyAccess(
            token=principal.key_id,
            # The SDK binds a session (stateful mode) to (client_id, issuer, subject): one key, one owner.
            client_id=principal.key_id,
            subject=principal.tenant_id,
            scopes=sorted(scope.value for scope in principal.scopes),
            principal=principal,
        )


def auth_settings() -> AuthSettings:
    """The SDK's auth switch: bearer keys required, with the `read` scope.

    `issuer_url` is a required field that only OAuth routes and protected-resource metadata use; this server
    serves neither (`resource_server_url` is None), so it is never advertised: API keys are not OAuth tokens.
    """
    return AuthSettings(
        issuer_url="https://clawtrace.invalid/",  # type: ignore[arg-type]  # pydantic parses the str
        resource_server_url=None,
        required_scopes=[Scope.READ.value],
    )


def principal_of(request: Any) -> Principal | None:
    """The principal the SDK's middleware authenticated for `request` (a Starlette request), or None."""
    user = getattr(request, "scope", {}).get("user")
    if isinstance(user, AuthenticatedUser) and isinstance(user.access_token, KeyAccess):
        return user.access_token.principal
    return None
