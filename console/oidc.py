"""Sign-in through the authority's identity provider (OpenID Connect, authlib's Starlette client).
Roles and departments come from the ID token's claims, mapped by settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.domain.console import ConsoleRole, Principal

if TYPE_CHECKING:
    from authlib.integrations.starlette_client import StarletteOAuth2App


@dataclass(frozen=True)
class OidcConfig:
    metadata_url: str  # the provider's .well-known/openid-configuration
    client_id: str
    client_secret: str
    scope: str
    user_claim: str  # e.g. preferred_username
    roles_claim: str  # a list (or space-separated string) of the provider's role names
    departments_claim: str
    role_map: Mapping[str, ConsoleRole]  # provider role name -> console role


def parse_role_map(text: str) -> dict[str, ConsoleRole]:
    """`idp-name=console-role,...`, e.g. `cc-agent=operator,dept-chief=department-head`."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, role = pair.partition("=")
        mapping[name.strip()] = ConsoleRole(role.strip())
    return mapping


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def principal_from_claims(claims: Mapping[str, object], config: OidcConfig) -> Principal | None:
    """None when the claims grant no console role (the user is refused, as a wrong password)."""
    user = claims.get(config.user_claim) or claims.get("sub")
    if not isinstance(user, str) or not user:
        return None
    roles = frozenset(
        config.role_map[name]
        for name in _names(claims.get(config.roles_claim))
        if name in config.role_map
    )
    departments = frozenset(_names(claims.get(config.departments_claim)))
    if not roles or (roles == {ConsoleRole.DEPARTMENT_HEAD} and not departments):
        return None
    return Principal(user[:64], roles, departments)


def oidc_client(config: OidcConfig) -> StarletteOAuth2App:
    # Imported only when OIDC is configured: authlib's httpx integration warns at import.
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

    oauth = OAuth()
    client = oauth.register(
        name="authority",
        server_metadata_url=config.metadata_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        client_kwargs={"scope": config.scope, "code_challenge_method": "S256"},
    )
    assert isinstance(client, StarletteOAuth2App)
    return client
