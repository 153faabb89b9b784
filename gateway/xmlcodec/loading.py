"""Build both codecs from settings, turning any failure to load the XSDs into one error that the
command line reports on /health/ready instead of dying before anyone can ask why."""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.xmlcodec.dms import DmsXmlCodec
from gateway.xmlcodec.egov import EgovXmlCodec
from gateway.xmlcodec.partner import PartnerXmlCodec


class SchemasUnavailable(RuntimeError):
    """The XSDs could not be read or compiled."""


class Codecs(NamedTuple):
    dms: DmsXmlCodec
    status: EgovXmlCodec
    partner: PartnerXmlCodec


def load_codecs(settings: Any) -> Codecs:
    limits = {"max_bytes": settings.xml_max_bytes, "max_depth": settings.xml_max_depth}
    try:
        return Codecs(
            DmsXmlCodec(settings.schemas_dir, **limits),
            EgovXmlCodec(settings.schemas_dir, **limits),
            PartnerXmlCodec(settings.schemas_dir, **limits),
        )
    except Exception as exc:  # noqa: BLE001 - OSError, lxml and xmlschema parse errors alike
        where = settings.schemas_dir or "the default schemas/ directory"
        raise SchemasUnavailable(
            f"XSDs failed to load from {where}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
