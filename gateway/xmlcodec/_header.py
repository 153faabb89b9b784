"""The X-Road style request header that the status and partner services share: read,
written and, for a refused request, salvaged (see `HeaderCodec.salvage`)."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from gateway.domain.letters import ApplicantKind
from gateway.domain.refusals import DecodeError, DecodeFault
from gateway.domain.requests import RequestHeader
from gateway.xmlcodec._schema import SchemaGate, children, token


class HeaderCodec:
    """The `header` element of one schema's requests and replies.

    `fields` are the header's element names in that schema; `request` is the request root
    element's name and `fill_body` adds a minimal valid body after the header, so that a
    salvaged header can be checked by validating a whole probe request.
    """

    def __init__(
        self,
        gate: SchemaGate,
        request: str,
        fields: tuple[str, ...],
        fill_body: Callable[[SchemaGate, etree._Element], object],
        protocol_versions: frozenset[str],
    ) -> None:
        self._gate = gate
        self._request = request
        self._fields = frozenset(fields)
        self._fill_body = fill_body
        self._protocol_versions = protocol_versions
        self._n = len(gate.namespace) + 2

    def open_request(self, raw: bytes) -> tuple[RequestHeader, dict[str, etree._Element]]:
        """Parse, check and validate a request from untrusted bytes: its header and the root's
        children by name. DecodeError carries the header whenever it could be read."""
        gate = self._gate
        root = gate.parse(raw)
        try:
            gate.message_type(root, (self._request,))
            gate.validate(root)
        except DecodeError as error:
            error.header = self.salvage(root)
            raise
        try:
            parts = children(root, self._n)
            header = self.read(parts["header"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None
        if header.protocol_version not in self._protocol_versions:
            raise DecodeError(
                DecodeFault.UNSUPPORTED_VERSION,
                f"protocolVersion {header.protocol_version} is not served",
                path=f"/{self._request}/header/protocolVersion",
                header=header,
            )
        return header, parts

    def read(self, header_el: etree._Element) -> RequestHeader:
        h = children(header_el, self._n)
        user = h.get("userId")
        return RequestHeader(
            client_id=token(h["client"]),
            service_code=token(h["service"]),
            message_id=token(h["id"]),
            protocol_version=token(h["protocolVersion"]),
            user_id=token(user) if user is not None else None,
            user_kind=(
                ApplicantKind(user.get("kind", "").strip(" \t\r\n")) if user is not None else None
            ),
            auth_level=token(h["authLevel"]) if "authLevel" in h else None,
            operator_id=token(h["operatorId"]) if "operatorId" in h else None,
        )

    def write(self, parent: etree._Element, header: RequestHeader) -> None:
        """Fields the schema has no place for make the message invalid (serialize refuses it)."""
        sub = self._gate.sub
        h = sub(parent, "header")
        sub(h, "client", header.client_id)
        sub(h, "service", header.service_code)
        sub(h, "id", header.message_id)
        sub(h, "protocolVersion", header.protocol_version)
        if header.user_id is not None:
            user = sub(h, "userId", header.user_id)
            if header.user_kind is not None:
                user.set("kind", header.user_kind.value)
            if header.auth_level is not None:
                sub(h, "authLevel", header.auth_level)
        if header.operator_id is not None:
            sub(h, "operatorId", header.operator_id)

    def salvage(self, root: etree._Element) -> RequestHeader | None:
        """Best effort: the header of a refused request, if it is itself valid v1.

        Elements are matched by local name, so a v2 (or otherwise unexpected) request
        still has its message id echoed, provided the header would be valid in v1.
        """
        header_el = next((c for c in root if etree.QName(c).localname == "header"), None)
        if header_el is None:
            return None
        # Rebuild the header in our namespace and check it with the schema.
        gate = self._gate
        probe = gate.element(self._request)
        copy = gate.sub(probe, "header")
        for child in header_el:
            local = etree.QName(child).localname
            if local not in self._fields or len(child):
                return None
            el = gate.sub(copy, local, child.text)
            for name, value in child.attrib.items():
                if name != "kind":
                    return None
                el.set(name, value)
        self._fill_body(gate, probe)
        if not gate.lxml_accepts(probe):
            return None
        try:
            return self.read(copy)
        except ValueError:
            return None
