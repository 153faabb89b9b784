"""Hostile input: each attack gets its own reason code; nothing is read or fetched."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.xmlcodec import DecodeError, DecodeFault, DmsXmlCodec, EgovXmlCodec
from gateway.xmlcodec.hardened import _parser

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
REQUEST = (SCHEMAS / "egov/v1/examples/request-person.xml").read_bytes()
EVENT = (SCHEMAS / "dms/v1/examples/letter-registered.xml").read_bytes()
MARKER = "SECRET-MARKER-5f1c0e7a"


@pytest.fixture(scope="module")
def dms() -> DmsXmlCodec:
    return DmsXmlCodec()


@pytest.fixture(scope="module")
def status() -> EgovXmlCodec:
    return EgovXmlCodec()


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "secret.txt"
    path.write_text(MARKER)
    return path


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A local TCP port that must never receive a connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)  # any connection attempt would already be in the backlog
    yield sock
    sock.close()


def _no_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def _request_with(number: bytes, prolog: bytes = b"") -> bytes:
    body = REQUEST.replace(b"DGK-2026-000007", number)
    return body.replace(b"<StatusRequest", prolog + b"<StatusRequest", 1)


def _hostile(secret: Path, port: int) -> dict[str, tuple[bytes, DecodeFault]]:
    url = f"http://127.0.0.1:{port}/x".encode()
    file_url = secret.as_uri().encode()
    laughs = b'<!ENTITY l0 "ha">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return {
        "external entity (file)": (
            _request_with(
                b"&x;", b'<!DOCTYPE StatusRequest [<!ENTITY x SYSTEM "' + file_url + b'">]>\n'
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "external entity (http)": (
            _request_with(
                b"&x;", b'<!DOCTYPE StatusRequest [<!ENTITY x SYSTEM "' + url + b'">]>\n'
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "parameter entity (http)": (
            _request_with(
                b"x", b'<!DOCTYPE StatusRequest [<!ENTITY % p SYSTEM "' + url + b'"> %p;]>\n'
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "billion laughs": (
            _request_with(b"&l9;", b"<!DOCTYPE StatusRequest [" + laughs + b"]>\n"),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "quadratic blowup": (
            _request_with(
                b"&a;" * 20_000,
                b'<!DOCTYPE StatusRequest [<!ENTITY a "' + b"A" * 50_000 + b'">]>\n',
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "external DTD": (
            _request_with(b"x", b'<!DOCTYPE StatusRequest SYSTEM "' + url + b'">\n'),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "XInclude": (
            _request_with(
                b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="'
                + file_url
                + b'" parse="text"/>'
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "XInclude (http)": (
            _request_with(
                b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="' + url + b'"/>'
            ),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "processing instruction": (
            _request_with(b"x", b'<?xml-stylesheet href="' + url + b'"?>\n'),
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        "over max_bytes (10 MB)": (
            _request_with(b"A" * (10 * 1024 * 1024)),
            DecodeFault.OVERSIZED,
        ),
        "nesting 10,000 deep": (
            _request_with(b"<a>" * 10_000 + b"</a>" * 10_000),
            DecodeFault.TOO_DEEP,
        ),
        "nesting 100 deep (under libxml2's own limit)": (
            _request_with(b"<a>" * 100 + b"</a>" * 100),
            DecodeFault.TOO_DEEP,
        ),
        "wrong namespace": (
            REQUEST.replace(b"urn:az:customs:appeals:status:v1", b"urn:evil"),
            DecodeFault.WRONG_NAMESPACE,
        ),
        "wrong version": (
            REQUEST.replace(b"status:v1", b"status:v2"),
            DecodeFault.UNSUPPORTED_VERSION,
        ),
        "ISO-8859-1 declaration": (
            REQUEST.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
            DecodeFault.BAD_ENCODING,
        ),
        "invalid UTF-8": (_request_with(b"DGK-\xff\xfe-1"), DecodeFault.BAD_ENCODING),
        "UTF-16 without declaration": (
            REQUEST.decode()
            .replace('<?xml version="1.0" encoding="UTF-8"?>', "")
            .encode("utf-16-le"),
            DecodeFault.BAD_ENCODING,
        ),
        "empty": (b"", DecodeFault.EMPTY),
        "whitespace only": (b" \n\t ", DecodeFault.EMPTY),
        "PNG header": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", DecodeFault.BAD_ENCODING),
        "JSON": (b'{"registrationNumber": "DGK-2026-004127"}', DecodeFault.NOT_WELL_FORMED),
        "text": (b"hello", DecodeFault.NOT_WELL_FORMED),
        "two roots": (REQUEST + b"<StatusRequest/>", DecodeFault.NOT_WELL_FORMED),
        "undeclared entity": (_request_with(b"&x;"), DecodeFault.NOT_WELL_FORMED),
    }


CASES = list(_hostile(Path("/tmp/x"), 9))  # names only, for the ids


@pytest.mark.parametrize("name", CASES)
def test_hostile_request(
    status: EgovXmlCodec, secret: Path, listener: socket.socket, name: str
) -> None:
    raw, code = _hostile(secret, listener.getsockname()[1])[name]
    with pytest.raises(DecodeError) as caught:
        status.decode_request(raw)
    error = caught.value
    assert error.code is code, error
    assert MARKER not in str(error) and MARKER not in error.detail
    assert len(error.detail) <= 300
    assert _no_connection(listener)


@pytest.mark.parametrize("name", CASES)
def test_hostile_dms_event(
    dms: DmsXmlCodec, secret: Path, listener: socket.socket, name: str
) -> None:
    raw, code = _hostile(secret, listener.getsockname()[1])[name]
    raw = raw.replace(b"urn:az:customs:appeals:status", b"urn:az:customs:appeals:dms")
    with pytest.raises(DecodeError) as caught:
        dms.decode(raw)
    # the hostile part is caught before the message type is even looked at
    assert caught.value.code is code
    assert MARKER not in str(caught.value)
    assert _no_connection(listener)


def test_one_megabyte_text_node_is_refused_by_the_size_cap(dms: DmsXmlCodec) -> None:
    raw = EVENT.replace("Artıq".encode(), b"A" * (1024 * 1024), 1)
    with pytest.raises(DecodeError) as caught:
        dms.decode(raw)
    assert caught.value.code is DecodeFault.OVERSIZED


def test_one_megabyte_text_node_is_refused_by_the_schema() -> None:
    big = DmsXmlCodec(max_bytes=4 * 1024 * 1024)
    raw = EVENT.replace("Artıq".encode(), b"A" * (1024 * 1024), 1)
    with pytest.raises(DecodeError) as caught:
        big.decode(raw)
    assert caught.value.code is DecodeFault.SCHEMA_INVALID
    assert caught.value.path == "/LetterRegistered/subject"
    assert "AAAAAAAAAA" not in caught.value.detail

    status = EgovXmlCodec(max_bytes=4 * 1024 * 1024)
    with pytest.raises(DecodeError) as caught:
        status.decode_request(_request_with(b"A" * (1024 * 1024)))
    assert caught.value.code is DecodeFault.SCHEMA_INVALID
    assert caught.value.path == "/StatusRequest/body/registrationNumber"
    assert caught.value.header is not None  # the header is still echoed


def test_schema_location_hints_are_not_followed(
    status: EgovXmlCodec, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    hint = (
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        b' xsi:schemaLocation="urn:az:customs:appeals:status:v1 http://127.0.0.1:%d/s.xsd">' % port
    )
    raw = REQUEST.replace(b'status:v1">', b'status:v1"' + hint, 1)
    assert status.decode_request(raw).registration_number == "DGK-2026-000007"
    invalid = raw.replace(b"<protocolVersion>1.0<", b"<protocolVersion>x<")  # xmlschema runs too
    with pytest.raises(DecodeError):
        status.decode_request(invalid)
    assert _no_connection(listener)


def test_the_parser_itself_does_not_expand_or_fetch(secret: Path, listener: socket.socket) -> None:
    """Defence in depth: even past the raw DOCTYPE scan, lxml is configured not to
    resolve entities, load DTDs or use the network."""
    port = listener.getsockname()[1]
    doc = (
        f'<!DOCTYPE r [<!ENTITY f SYSTEM "{secret.as_uri()}">'
        f'<!ENTITY h SYSTEM "http://127.0.0.1:{port}/x">'
        f'<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]><r>&f;&h;</r>'
    ).encode()
    try:
        root = etree.fromstring(doc, _parser())
    except etree.XMLSyntaxError:
        pass
    else:
        assert MARKER not in etree.tostring(root, encoding="unicode")
    assert _no_connection(listener)


def test_comments_are_ignored(dms: DmsXmlCodec) -> None:
    raw = EVENT.replace(b"<sequence>", b"<!-- a comment --><sequence>")
    assert dms.decode(raw).sequence == 1


def test_bytearray_is_accepted_and_str_refused(dms: DmsXmlCodec) -> None:
    assert dms.decode(bytearray(EVENT)).sequence == 1
    with pytest.raises(TypeError):
        dms.decode(EVENT.decode())  # type: ignore[arg-type]
