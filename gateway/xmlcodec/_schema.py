"""What the DMS and status codecs share: one schema checked by two validators, the
namespace rules, and small helpers to read and write element text."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from datetime import date, datetime
from pathlib import Path

import xmlschema
from lxml import etree

from gateway.domain.refusals import DecodeError, DecodeFault, shorten
from gateway.xmlcodec._text import collapse
from gateway.xmlcodec.hardened import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, parse_untrusted

log = logging.getLogger(__name__)

DEFAULT_SCHEMAS_ROOT = Path(__file__).resolve().parents[2] / "schemas"
NAMESPACE_FAMILY = re.compile(r"urn:az:customs:appeals:([a-z][a-z0-9-]*):v([0-9]+)")

_PREFIX = re.compile(r"(?<=/)[^/:\[\]]+:")


def resolve_xsd(schemas: str | Path | None, relative: str) -> Path:
    """`schemas` is either the XSD file itself or the schemas root directory."""
    path = Path(schemas) if schemas is not None else DEFAULT_SCHEMAS_ROOT
    return path if path.is_file() else path / relative


class SchemaGate:
    """One XSD, loaded into lxml (fast path) and into xmlschema (error details)."""

    def __init__(
        self,
        xsd: Path,
        namespace: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        match = NAMESPACE_FAMILY.fullmatch(namespace)
        if match is None:
            raise ValueError(f"{namespace} is not in the urn:az:customs:appeals family")
        self.namespace = namespace
        self.kind = match.group(1)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._ns_prefix = f"{{{namespace}}}"
        schema_parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        self._lxml = etree.XMLSchema(etree.parse(str(xsd), schema_parser))
        self._xmlschema = xmlschema.XMLSchema(str(xsd), allow="sandbox", defuse="always")
        if self._xmlschema.target_namespace != namespace:
            raise ValueError(f"{xsd} does not define {namespace}")

    # ---- decoding ------------------------------------------------------------------

    def parse(self, raw: bytes) -> etree._Element:
        return parse_untrusted(raw, max_bytes=self.max_bytes, max_depth=self.max_depth)

    def message_type(self, root: etree._Element, expected: Collection[str]) -> str:
        """The root's local name when it is one of `expected` in our namespace."""
        tag = root.tag
        if tag.startswith(self._ns_prefix):
            local = tag[len(self._ns_prefix) :]
            if local in expected:
                return local
            raise DecodeError(
                DecodeFault.UNKNOWN_MESSAGE_TYPE,
                f"root element {local!r}; expected one of {', '.join(sorted(expected))}",
            )
        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        match = NAMESPACE_FAMILY.fullmatch(namespace)
        if match is not None and match.group(1) == self.kind:
            raise DecodeError(
                DecodeFault.UNSUPPORTED_VERSION,
                f"namespace {namespace} is not served; this gateway serves {self.namespace}",
            )
        raise DecodeError(
            DecodeFault.WRONG_NAMESPACE,
            f"root element in namespace {namespace or '(none)'!r}; expected {self.namespace}",
        )

    def validate(self, root: etree._Element) -> None:
        """Raise DecodeError(SCHEMA_INVALID) with the first error's path and reason."""
        if self._lxml.validate(root):
            return
        error = self.first_error(root)
        if error is None:  # the validators disagree: a bug in one of them, or in the XSD
            log.error("lxml rejects a document that xmlschema accepts: %s", self._lxml.error_log)
            last = self._lxml.error_log.last_error
            error = (last.path or "/", last.message) if last is not None else ("/", "invalid")
        path, reason = error
        raise DecodeError(DecodeFault.SCHEMA_INVALID, reason, path=path)

    def first_error(self, root: etree._Element) -> tuple[str, str] | None:
        """(path, reason) of xmlschema's first error, or None when it finds the tree valid.

        The path has no namespace prefixes (the document's prefixes are arbitrary), e.g.
        /StatusReply/status/history/entry[2]/at.
        """
        resource = xmlschema.XMLResource(root, allow="none", defuse="always")
        for error in self._xmlschema.iter_errors(resource):
            path = _PREFIX.sub("", error.path or "") or "/" + etree.QName(root).localname
            return path, shorten(error.reason or str(error.message))
        return None

    # ---- both validators, for tests and diagnostics ---------------------------------

    def lxml_accepts(self, root: etree._Element) -> bool:
        return bool(self._lxml.validate(root))

    def xmlschema_accepts(self, root: etree._Element) -> bool:
        return self.first_error(root) is None

    # ---- encoding ------------------------------------------------------------------

    def element(self, name: str) -> etree._Element:
        return etree.Element(self._ns_prefix + name, nsmap={None: self.namespace})

    def sub(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, self._ns_prefix + name)
        if text is not None:
            child.text = text
        return child

    def serialize(self, root: etree._Element) -> bytes:
        """Bytes of a document we produce; refuses to emit anything schema-invalid."""
        if not self._lxml.validate(root):
            error = self.first_error(root)
            last = self._lxml.error_log.last_error
            where, why = error or ((last.path, last.message) if last else ("/", "invalid"))
            raise ValueError(f"refusing to encode a schema-invalid message: {why} at {where}")
        return etree.tostring(root, encoding="UTF-8", xml_declaration=True)

    def tag(self, name: str) -> str:
        return self._ns_prefix + name


# ---- text helpers (values are already schema-valid when these run) -------------------


def token(el: etree._Element) -> str:
    """Text of an xs:token element, whitespace collapsed as the validators saw it."""
    return collapse(el.text or "")


def string(el: etree._Element) -> str:
    """Text of an xs:string element, as is."""
    return el.text or ""


def read_date(el: etree._Element) -> date:
    return date.fromisoformat(token(el))


def read_timestamp(el: etree._Element) -> datetime:
    return datetime.fromisoformat(token(el))


def children(el: etree._Element, prefix_len: int) -> dict[str, etree._Element]:
    """Child elements by local name (for content models where each name occurs once)."""
    return {child.tag[prefix_len:]: child for child in el}
