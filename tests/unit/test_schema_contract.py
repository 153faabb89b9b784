"""The schemas themselves: lxml and xmlschema agree on the whole corpus, and every
element and type is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from gateway.xmlcodec import DecodeError, DmsXmlCodec, EgovXmlCodec, parse_untrusted
from gateway.xmlcodec._schema import SchemaGate
from gateway.xmlcodec.partner import PartnerXmlCodec

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
XS = "{http://www.w3.org/2001/XMLSchema}"
FAMILIES = {
    "dms": SCHEMAS / "dms" / "v1",
    "egov": SCHEMAS / "egov" / "v1",
    "partner": SCHEMAS / "partner" / "v1",
}


@pytest.fixture(scope="module")
def gates() -> dict[str, SchemaGate]:
    return {
        "dms": DmsXmlCodec().gate,
        "egov": EgovXmlCodec().gate,
        "partner": PartnerXmlCodec().gate,
    }


def _corpus() -> list[tuple[str, Path, bool | None]]:
    """(family, file, expected validity); None when the file never reaches validation."""
    cases: list[tuple[str, Path, bool | None]] = []
    for family, directory in FAMILIES.items():
        cases += [(family, p, True) for p in sorted((directory / "examples").glob("*.xml"))]
        expected = json.loads((directory / "invalid" / "expected.json").read_text("utf-8"))
        for name, entry in sorted(expected.items()):
            validity = {"SCHEMA_INVALID": False, None: True}.get(entry["code"])
            validity = entry.get("schema_valid", validity)  # refused by a codec check
            cases.append((family, directory / "invalid" / name, validity))
    return cases


@pytest.mark.parametrize(
    ("family", "path", "valid"), _corpus(), ids=lambda v: v.name if isinstance(v, Path) else None
)
def test_lxml_and_xmlschema_agree(
    gates: dict[str, SchemaGate], family: str, path: Path, valid: bool | None
) -> None:
    gate = gates[family]
    try:
        root = parse_untrusted(path.read_bytes())
    except DecodeError:
        assert valid is None
        return
    if etree.QName(root).namespace != gate.namespace:
        assert valid is None
        return
    lxml_says, xmlschema_says = gate.lxml_accepts(root), gate.xmlschema_accepts(root)
    assert lxml_says == xmlschema_says, f"validators disagree on {path.name}"
    if valid is not None:
        assert lxml_says is valid


def test_the_corpus_covers_both_outcomes() -> None:
    outcomes = [valid for _, _, valid in _corpus()]
    assert outcomes.count(True) >= 12 and outcomes.count(False) >= 30


@pytest.mark.parametrize("xsd", sorted(SCHEMAS.glob("*/v*/*.xsd")), ids=lambda p: p.name)
def test_every_element_and_type_is_documented(xsd: Path) -> None:
    tree = etree.parse(str(xsd))
    undocumented = [
        f"{etree.QName(node).localname} {node.get('name')} (line {node.sourceline})"
        for node in tree.iter(
            f"{XS}element", f"{XS}complexType", f"{XS}simpleType", f"{XS}attribute"
        )
        if (node.get("name") or etree.QName(node).localname == "element")
        and not "".join(
            node.xpath("xs:annotation/xs:documentation//text()", namespaces={"xs": XS[1:-1]})
        ).strip()
    ]
    assert not undocumented


@pytest.mark.parametrize("xsd", sorted(SCHEMAS.glob("*/v*/*.xsd")), ids=lambda p: p.name)
def test_namespace_is_versioned_by_directory(xsd: Path) -> None:
    target = etree.parse(str(xsd)).getroot().get("targetNamespace")
    kind = {"dms": "dms", "egov": "status", "partner": "partner"}[xsd.parent.parent.name]
    assert target == f"urn:az:customs:appeals:{kind}:{xsd.parent.name}"
    assert etree.parse(str(xsd)).getroot().get("elementFormDefault") == "qualified"
