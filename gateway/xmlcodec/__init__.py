"""XML codecs for the gateway's public contracts (see schemas/README.md).

- `DmsXmlCodec`: DMS events (urn:az:customs:appeals:dms:v1) <-> gateway.domain.letters events.
- `EgovXmlCodec`: StatusRequest / StatusReply / AcceptanceNotice
  (urn:az:customs:appeals:status:v1) <-> gateway.domain.requests objects.
- `DecodeError` / `DecodeFault`: why a message was refused (the dead-letter reason codes).

Untrusted bytes are parsed by `hardened.parse_untrusted` and validated with lxml; only a
refused document is run through xmlschema as well, for a precise error path.
Codecs are built once (schema loading takes ~100 ms) and are meant for one event loop
thread; the lxml parser they use is per thread.
"""

from gateway.domain.refusals import DecodeError, DecodeFault
from gateway.xmlcodec.dms import DMS_NAMESPACE, DmsXmlCodec
from gateway.xmlcodec.egov import (
    STATUS_NAMESPACE,
    AcceptanceNotice,
    EgovXmlCodec,
    StatusReply,
    fault_for,
)
from gateway.xmlcodec.hardened import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, parse_untrusted

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DMS_NAMESPACE",
    "STATUS_NAMESPACE",
    "AcceptanceNotice",
    "DecodeError",
    "DecodeFault",
    "DmsXmlCodec",
    "EgovXmlCodec",
    "StatusReply",
    "fault_for",
    "parse_untrusted",
]
