"""The console's session rules, CSRF check and security headers.

Sessions are Starlette's signed cookies (itsdangerous): HttpOnly, SameSite=Lax, Secure behind
TLS. The cookie holds the principal, when it signed in and when it was last seen; a session past
its idle or absolute timeout is emptied and the user sent back to sign-in.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.domain.console import ConsoleRole, Principal

CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 16 * 1024  # the console's forms are a few fields

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),  # pages carry personal data: never kept by a browser cache
]


@dataclass(frozen=True)
class Timeouts:
    idle_s: float
    absolute_s: float


def sign_in(session: MutableMapping[str, Any], principal: Principal, now: float) -> None:
    """A fresh session (no fixation): the old one's contents, CSRF token included, are gone."""
    session.clear()
    session.update(
        user=principal.user_id,
        roles=sorted(principal.roles),
        departments=sorted(principal.departments),
        since=now,
        seen=now,
        csrf=secrets.token_urlsafe(32),
    )


def current_principal(
    session: MutableMapping[str, Any], timeouts: Timeouts, now: float
) -> Principal | None:
    """The signed-in principal, or None (never signed in, or timed out: then emptied)."""
    if "user" not in session:
        return None
    if now - session["since"] > timeouts.absolute_s or now - session["seen"] > timeouts.idle_s:
        session.clear()
        return None
    session["seen"] = now
    return Principal(
        session["user"],
        frozenset(ConsoleRole(r) for r in session["roles"]),
        frozenset(session["departments"]),
    )


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token; an anonymous session (the sign-in form) gets one too."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token: str = session["csrf"]
    return token


class CsrfMiddleware:
    """Refuses every state-changing request whose token (form field or X-CSRF-Token header, as
    htmx sends it) does not match the session's. Runs inside the session middleware; buffers
    the small form body and hands it on unchanged."""

    def __init__(self, app: ASGIApp, refused: Callable[[HTTPConnection], Response]) -> None:
        self.app, self._refused = app, refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                await Response("form too large", 413)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        expected = scope["session"].get("csrf")
        sent = _header(scope, CSRF_HEADER) or _form_field(scope, body, CSRF_FIELD)
        if not (expected and sent and hmac.compare_digest(expected, sent)):
            await self._refused(HTTPConnection(scope))(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _form_field(scope: Scope, body: bytes, name: str) -> str | None:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get(name)
    return values[0] if values else None


class SecurityHeadersMiddleware:
    """CSP without inline scripts, no framing, no sniffing, no caching, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k not in names]
                message = {**message, "headers": [*kept, *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
