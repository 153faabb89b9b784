"""Property: whatever bytes arrive, decoding either succeeds or raises DecodeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.xmlcodec import DecodeError, DmsXmlCodec, EgovXmlCodec

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SAMPLES = [p.read_bytes() for p in sorted(SCHEMAS.glob("*/v1/examples/*.xml"))]
SNIPPETS = [
    b"<",
    b">",
    b"</",
    b"/>",
    b"&",
    b"&amp;",
    b"&x;",
    b"<!DOCTYPE a>",
    b"<?pi?>",
    b"<![CDATA[",
    b"]]>",
    b'"',
    b"'",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\n",
    b" ",
    b'xmlns=""',
    b'xmlns:a="urn:az:customs:appeals:dms:v9"',
    b"<a>",
    b"</a>",
    b"2026-13-01",
    b"-1",
    b"99999999999999999999999",
    b"T24:00:00Z",
    b'kind="x"',
    b"<!--",
    b"-->",
]
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def decoders() -> list:
    dms, status = DmsXmlCodec(), EgovXmlCodec()
    return [dms.decode, status.decode_request, status.decode_reply, status.decode_notice]


def _mutate(data: bytes, draw) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "flip"]))
        if op == "delete":
            data = data[:i] + data[j:]
        elif op == "insert":
            data = data[:i] + draw(st.sampled_from(SNIPPETS) | st.binary(max_size=8)) + data[i:]
        elif op == "replace":
            data = data[:i] + draw(st.sampled_from(SNIPPETS)) + data[j:]
        elif op == "duplicate":
            data = data[:j] + data[i:j] + data[j:]
        elif n:
            k = min(i, n - 1)
            data = data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1 :]
    return data


def _decode_all(decoders: list, raw: bytes) -> None:
    for decode in decoders:
        try:
            decode(raw)
        except DecodeError as error:
            assert len(error.detail) <= 300


@SETTINGS
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes(decoders: list, raw: bytes) -> None:
    _decode_all(decoders, raw)


@SETTINGS
@given(data=st.data())
def test_mutated_examples(decoders: list, data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(SAMPLES))
    _decode_all(decoders, _mutate(sample, data.draw))
