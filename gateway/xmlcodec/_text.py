"""Outgoing documents written directly as text, for the hot paths (status replies, notices).

Building an lxml tree and validating every outgoing document against the XSD cost about
200 µs per status reply. Here each value is checked against the facets of its XSD simple
type as it is written, and escaped; the structure is fixed by the code that writes it. The
tests hold this to the XSD: each checker agrees with the schema's type of the same name on
random and hostile strings, and random documents written here validate with lxml and
xmlschema (or are refused with ValueError, as an invalid tree used to be).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

# XML 1.0 Char: what may appear in a document at all (no NUL, no other C0 controls, no
# surrogates, no U+FFFE/U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_WS = re.compile(r"[ \t\n\r]+")
_MAX_TZ = timedelta(hours=14)  # xs:dateTime time zones lie within -14:00..+14:00


def escape(text: str) -> str:
    """Character data: markup characters escaped; CR as a reference, so a parser does not
    turn it into LF (as lxml serializes it)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _present(value: str | None, type_name: str) -> str:
    if value is None:  # a required element has no value: the document would be invalid
        raise ValueError(f"{type_name}: no value")
    return value


def collapse(value: str) -> str:
    """xs:token's whitespace rule: runs of tab, CR, LF and space become one space, and none
    at either end."""
    if value and (  # fast path: nothing to collapse (the common case)
        value[0] != " "
        and value[-1] != " "
        and "  " not in value
        and "\t" not in value
        and "\n" not in value
        and "\r" not in value
    ):
        return value
    return _XML_WS.sub(" ", value).strip(" ")


def _xml_chars(value: str, type_name: str) -> None:
    if _NOT_XML_CHAR.search(value) is not None:
        raise ValueError(f"{type_name}: a character XML cannot carry in {value[:80]!r}")


class TokenType:
    """An xs:token restriction: whitespace collapsed, then length and pattern facets."""

    def __init__(
        self,
        name: str,
        min_length: int = 0,
        max_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        self.name = name
        self._min, self._max = min_length, max_length
        self._pattern = re.compile(pattern) if pattern is not None else None

    def __call__(self, value: str | None) -> str:
        """The value as element text; ValueError if the type does not allow it."""
        value = _present(value, self.name)
        _xml_chars(value, self.name)
        collapsed = collapse(value)
        if len(collapsed) < self._min or (self._max is not None and len(collapsed) > self._max):
            raise ValueError(f"{self.name}: length {len(collapsed)} of {value[:80]!r}")
        if self._pattern is not None and self._pattern.fullmatch(collapsed) is None:
            raise ValueError(f"{self.name}: {value[:80]!r} does not match its pattern")
        return escape(value)


class StringType:
    """An xs:string restriction (whitespace preserved) with length facets."""

    def __init__(self, name: str, min_length: int = 0, max_length: int | None = None) -> None:
        self.name = name
        self._min, self._max = min_length, max_length

    def __call__(self, value: str | None) -> str:
        value = _present(value, self.name)
        _xml_chars(value, self.name)
        if len(value) < self._min or (self._max is not None and len(value) > self._max):
            raise ValueError(f"{self.name}: length {len(value)} of {value[:80]!r}")
        return escape(value)


def write_timestamp(value: datetime) -> str:
    """The Timestamp type: an aware date-time, offset in whole minutes within ±14:00."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"timestamp without time zone: {value!r}")
    if offset.seconds % 60 or offset.microseconds:
        raise ValueError(f"time zone offset with seconds: {value!r}")
    if abs(offset) > _MAX_TZ:
        raise ValueError(f"time zone offset beyond 14 hours: {value!r}")
    return value.isoformat()


def calendar_date(value: date) -> str:
    """The Date type (YYYY-MM-DD; Python dates have four-digit years)."""
    return value.isoformat()


class IntegerType:
    """An xs:integer restriction with inclusive bounds, written in canonical form."""

    def __init__(self, name: str, minimum: int, maximum: int) -> None:
        self.name = name
        self._min, self._max = minimum, maximum

    def __call__(self, value: int) -> str:
        if not self._min <= value <= self._max:
            raise ValueError(f"{self.name}: {value} out of range")
        return str(value)


def boolean(value: bool) -> str:
    """xs:boolean, canonical form."""
    return "true" if value else "false"


class Document:
    """Elements appended in document order; the root carries the default namespace."""

    __slots__ = ("_parts", "_root")

    def __init__(self, root: str, namespace: str) -> None:
        self._root = root
        self._parts = [f"<?xml version='1.0' encoding='UTF-8'?>\n<{root} xmlns=\"{namespace}\">"]

    def leaf(self, name: str, text: str) -> None:
        """An element with text already checked and escaped by one of the types above."""
        self._parts.append(f"<{name}>{text}</{name}>")

    def leaf_with_kind(self, name: str, kind: str, text: str) -> None:
        """An element with a `kind` attribute (an enumeration value: nothing to escape)."""
        self._parts.append(f'<{name} kind="{kind}">{text}</{name}>')

    def open(self, name: str) -> None:
        self._parts.append(f"<{name}>")

    def close(self, name: str) -> None:
        self._parts.append(f"</{name}>")

    def bytes(self) -> bytes:
        self._parts.append(f"</{self._root}>")
        return "".join(self._parts).encode("utf-8")
