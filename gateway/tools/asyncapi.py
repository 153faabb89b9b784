"""docs/asyncapi.json: the AsyncAPI 3.0 document of the broker the composition root builds
(gateway/ops/asyncapi.py), with every payload described as the XML of its XSD.

Generated from the default settings (environment ignored), so the committed document is the
same on every machine. `python -m gateway asyncapi` writes docs/asyncapi.json; `--check` fails
when the file is not current (a unit test does the same).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gateway.ops.asyncapi import (
    JSON_CHANNELS,
    XSD_DMS,
    XSD_STATUS,
    outbound_channels,
    specification,
)
from gateway.settings import PROJECT_ROOT, Settings

DOCUMENT = PROJECT_ROOT / "docs" / "asyncapi.json"
XML = "application/xml"


# Payload descriptions of the channels the gateway reads (titles as in consumers/).
INBOUND_PAYLOADS = {
    "dms-events": f"one DMS event: LetterRegistered, LetterAssigned, StatusChanged, "
    f"LetterForwarded, LetterAnswered or LetterClosed ({XSD_DMS})",
    "status-requests": f"StatusRequest ({XSD_STATUS}), asking a status or (body/query "
    "access-log) who looked at the letter; headers reply_to and correlation_id",
}


def _xml_payloads(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """FastStream describes JSON payloads from Python types; every message here is XML bytes,
    described by an XSD (the audit witness's JSON heads aside). Message names start with
    their channel's title."""
    payloads = {**INBOUND_PAYLOADS, **{t: p for t, _, _, p in outbound_channels(settings)}}
    document["defaultContentType"] = XML
    document.get("components", {}).pop("schemas", None)  # FastStream's JSON payload models
    for name, message in document.get("components", {}).get("messages", {}).items():
        title = name.split(":", 1)[0]
        content_type = "application/json" if title in JSON_CHANNELS else XML
        message["contentType"] = content_type
        message["payload"] = {
            "type": "string",
            "contentMediaType": content_type,
            "description": payloads[title],
        }
    return document


async def _build() -> dict[str, Any]:
    from gateway.app import Gateway

    settings = Settings.model_construct()  # the defaults, whatever the environment says
    gateway = Gateway(settings)
    try:
        spec = specification(gateway.broker).to_specification()
        return _xml_payloads(spec.to_jsonable(), settings)
    finally:
        await gateway.producer.stop()
        await gateway.engine.dispose()


def document_text() -> str:
    return json.dumps(asyncio.run(_build()), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def asyncapi_command(*, check: bool, output: str | None) -> int:
    target = Path(output) if output else DOCUMENT
    text = document_text()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is not current: run `python -m gateway asyncapi`", file=sys.stderr)
            return 1
        print(f"{target} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0
