"""The committed AsyncAPI document is what the code generates today."""

from __future__ import annotations

import json

from gateway.settings import Settings
from gateway.tools.asyncapi import DOCUMENT, document_text


def test_the_committed_asyncapi_document_is_current():
    assert DOCUMENT.exists(), "run `python -m gateway asyncapi`"
    assert DOCUMENT.read_text(encoding="utf-8") == document_text(), (
        "docs/asyncapi.json is stale: run `python -m gateway asyncapi` and commit it"
    )


def test_every_topic_the_gateway_reads_or_writes_is_a_channel():
    document = json.loads(document_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    defaults = Settings.model_construct()
    assert addresses == set(defaults.all_topics)
    actions = {op["action"] for op in document["operations"].values()}
    assert actions == {"send", "receive"}
    assert document["defaultContentType"] == "application/xml"
