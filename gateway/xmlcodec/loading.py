"""The one codec factory: the service and every command build their codecs here, from settings
(schemas directory, size limits, registration number pattern). A failure to load the XSDs
becomes one error that the command line reports on /health/ready instead of dying before
anyone can ask why."""

from __future__ import annotations

from typing import NamedTuple

from gateway.settings import Settings
from gateway.xmlcodec.dms import DmsXmlCodec
from gateway.xmlcodec.egov import EgovXmlCodec
from gateway.xmlcodec.partner import PartnerXmlCodec


class SchemasUnavailable(RuntimeError):
    """The XSDs could not be read or compiled."""


class Codecs(NamedTuple):
    dms: DmsXmlCodec
    status: EgovXmlCodec
    partner: PartnerXmlCodec


def load_codecs(settings: Settings) -> Codecs:
    schemas = settings.schemas_dir
    max_bytes, max_depth = settings.xml_max_bytes, settings.xml_max_depth
    try:
        return Codecs(
            DmsXmlCodec(
                schemas,
                max_bytes=max_bytes,
                max_depth=max_depth,
                registration_numbers=settings.registration_number_pattern,
            ),
            EgovXmlCodec(schemas, max_bytes=max_bytes, max_depth=max_depth),
            PartnerXmlCodec(schemas, max_bytes=max_bytes, max_depth=max_depth),
        )
    except Exception as exc:  # noqa: BLE001 - OSError, lxml and xmlschema parse errors alike
        where = schemas or "the default schemas/ directory"
        raise SchemasUnavailable(
            f"XSDs failed to load from {where}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
