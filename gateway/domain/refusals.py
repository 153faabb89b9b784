"""Why an incoming XML message was refused: the decoding / dead-letter reason codes."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.domain.requests import RequestHeader

DETAIL_MAX_CHARS = 300


class DecodeFault(enum.StrEnum):
    """Reason a message could not be decoded; used as the dead-letter reason code."""

    EMPTY = "EMPTY"  # no bytes, or only whitespace
    OVERSIZED = "OVERSIZED"  # more bytes than the configured cap (checked before parsing)
    BAD_ENCODING = "BAD_ENCODING"  # not UTF-8, or an encoding declaration other than UTF-8
    NOT_WELL_FORMED = "NOT_WELL_FORMED"  # not XML
    FORBIDDEN_CONSTRUCT = "FORBIDDEN_CONSTRUCT"  # DOCTYPE/DTD, entity, XInclude, PI
    TOO_DEEP = "TOO_DEEP"  # element nesting deeper than the configured cap
    WRONG_NAMESPACE = "WRONG_NAMESPACE"  # root element outside the expected namespace
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"  # our namespace family, a version not served
    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"  # right namespace, unexpected root element
    SCHEMA_INVALID = "SCHEMA_INVALID"  # well-formed but not valid against the XSD
    MALFORMED_REGISTRATION_NUMBER = "MALFORMED_REGISTRATION_NUMBER"  # valid, outside the pattern


def shorten(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    """Cap a human text so that a huge payload is never echoed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DecodeError(Exception):
    """A message was refused. `code` is the reason; `detail` a short human text.

    `path` is the XPath-like location of the first schema error (SCHEMA_INVALID, and
    also for a protocol version that is not served). `header` is, for status requests,
    the request header when it could be read from a well-formed document and is itself
    valid, so that a fault reply and the audit can echo the message id and client.
    """

    def __init__(
        self,
        code: DecodeFault,
        detail: str = "",
        *,
        path: str | None = None,
        header: RequestHeader | None = None,
    ) -> None:
        self.code = code
        self.detail = shorten(detail) if detail else code.value
        self.path = path
        self.header = header
        super().__init__(f"{code}: {self.detail}" + (f" at {path}" if path else ""))
