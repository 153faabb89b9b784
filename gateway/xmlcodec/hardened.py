"""Parsing XML that arrives from outside: refuse anything but plain UTF-8 elements and text.

Refused before or while parsing, each with its own reason code (see `DecodeFault`):
empty or oversized input, anything but UTF-8, any DOCTYPE / DTD / entity declaration
(so an entity is never expanded and no external resource is ever fetched), processing
instructions (the XML declaration aside), XInclude elements (`xinclude()` is never
called either), and nesting deeper than `max_depth`. Comments are dropped.
"""

from __future__ import annotations

import functools
import re
import threading

from lxml import etree

from gateway.domain.refusals import DecodeError, DecodeFault

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 64
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

_BOM = b"\xef\xbb\xbf"
_XML_WHITESPACE = b" \t\r\n"
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]{0,512}?\?>")
_ENCODING = re.compile(rb"""[ \t\r\n]encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"']{0,64})\1""")
_FORBIDDEN_TAGS = (etree.ProcessingInstruction, etree.Entity, f"{{{XINCLUDE_NS}}}*")

_local = threading.local()  # lxml parsers must not be shared between threads


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            encoding="utf-8",  # never let a declaration or a BOM pick another decoder
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_pis=False,  # kept so that they can be detected and refused
            remove_comments=True,
            collect_ids=False,
            strip_cdata=True,
        )
    return parser


@functools.lru_cache(maxsize=8)
def _too_deep(max_depth: int) -> etree.XPath:
    """An XPath that is true when some element sits deeper than max_depth (root = 1)."""
    return etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")")


def _check_bytes(raw: bytes) -> None:
    if not raw or not raw.strip(_XML_WHITESPACE):
        raise DecodeError(DecodeFault.EMPTY, "the message is empty")
    if b"\x00" in raw:  # never in XML 1.0; UTF-16/32 text and binary data have NUL bytes
        raise DecodeError(DecodeFault.BAD_ENCODING, "NUL byte: not UTF-8 text")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            DecodeFault.BAD_ENCODING, f"invalid UTF-8 at byte offset {exc.start}"
        ) from None
    body = raw[3:] if raw.startswith(_BOM) else raw
    if body.startswith(b"<?xml"):
        declaration = _DECLARATION.match(body)
        if declaration is not None:
            encoding = _ENCODING.search(declaration.group())
            if encoding is not None and encoding.group(2).lower() != b"utf-8":
                declared = encoding.group(2).decode("ascii", "replace")
                raise DecodeError(
                    DecodeFault.BAD_ENCODING,
                    f"encoding {declared!r} declared; only UTF-8 is accepted",
                )
    # Cheap raw scan, so that a DTD (billion laughs, external entities) is never even
    # parsed. It also refuses these strings inside comments or CDATA, which is harmless.
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "DOCTYPE or entity declaration")


def parse_untrusted(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise DecodeError."""
    if not isinstance(raw, bytes):
        if isinstance(raw, bytearray | memoryview):
            raw = bytes(raw)
        else:
            raise TypeError(f"expected bytes, got {type(raw).__name__}")
    if len(raw) > max_bytes:  # before anything else touches the payload
        raise DecodeError(DecodeFault.OVERSIZED, f"{len(raw)} bytes; the limit is {max_bytes}")
    _check_bytes(raw)
    parser = _parser()
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "depth" in message.lower():  # libxml2 refuses > 256 levels without huge_tree
            raise DecodeError(DecodeFault.TOO_DEEP, message) from None
        raise DecodeError(DecodeFault.NOT_WELL_FORMED, message) from None
    except (etree.LxmlError, ValueError) as exc:
        raise DecodeError(DecodeFault.NOT_WELL_FORMED, str(exc)) from None
    if root is None:
        raise DecodeError(DecodeFault.NOT_WELL_FORMED, "no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "DOCTYPE declaration")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "processing instruction")
    for node in root.iter(*_FORBIDDEN_TAGS):
        if isinstance(node, etree._ProcessingInstruction):
            raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "processing instruction")
        if isinstance(node, etree._Entity):
            raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "entity reference")
        raise DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT, "XInclude element")
    if _too_deep(max_depth)(root):
        raise DecodeError(DecodeFault.TOO_DEEP, f"elements nested deeper than {max_depth}")
    return root
