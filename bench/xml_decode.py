"""Micro-benchmark (not a test): µs per decode of a valid DMS event and a valid request, and
per encode of a status reply (status and fault) and an acceptance notice.

.venv/bin/python bench/xml_decode.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.domain.requests import Fault, FaultView  # noqa: E402
from gateway.xmlcodec import DmsXmlCodec, EgovXmlCodec  # noqa: E402

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
RUNS, LOOPS = 21, 1000


def median_us(fn, raw: bytes) -> float:
    for _ in range(LOOPS):  # warm-up
        fn(raw)
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(LOOPS):
            fn(raw)
        samples.append((time.perf_counter() - start) / LOOPS * 1e6)
    return statistics.median(samples)


def main() -> None:
    dms, status = DmsXmlCodec(), EgovXmlCodec()
    cases = [
        ("DMS LetterRegistered", dms.decode, SCHEMAS / "dms/v1/examples/letter-registered.xml"),
        ("DMS LetterAssigned", dms.decode, SCHEMAS / "dms/v1/examples/letter-assigned.xml"),
        (
            "StatusRequest (person)",
            status.decode_request,
            SCHEMAS / "egov/v1/examples/request-person.xml",
        ),
        (
            "StatusReply (status)",
            status.decode_reply,
            SCHEMAS / "egov/v1/examples/reply-status.xml",
        ),
    ]
    for label, fn, path in cases:
        raw = path.read_bytes()
        print(f"{label:<26} {len(raw):>5} B  {median_us(fn, raw):7.1f} µs/message (median)")
    reply = status.decode_reply((SCHEMAS / "egov/v1/examples/reply-status.xml").read_bytes())

    def encode(_: bytes) -> None:
        status.encode_reply(reply.header, reply.request_hash, reply.status)

    def encode_fault(_: bytes) -> None:
        status.encode_reply(reply.header, reply.request_hash, FaultView(Fault.NOT_FOUND))

    notice = status.decode_notice((SCHEMAS / "egov/v1/examples/notice.xml").read_bytes())

    def encode_notice(_: bytes) -> None:
        status.encode_notice(notice)

    for label, fn in (
        ("encode_reply (status)", encode),
        ("encode_reply (fault)", encode_fault),
        ("encode_notice", encode_notice),
    ):
        print(f"{label:<26} {'':>5}    {median_us(fn, b''):7.1f} µs/message (median)")
    bad = (SCHEMAS / "egov/v1/invalid/message-id-too-long.xml").read_bytes()

    def refused(raw: bytes) -> None:
        try:
            status.decode_request(raw)
        except Exception:
            pass

    us = median_us(refused, bad)
    print(f"{'invalid request (xmlschema)':<26} {len(bad):>5} B  {us:7.1f} µs/message (median)")


if __name__ == "__main__":
    main()
