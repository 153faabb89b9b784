"""The console's lookups as bytes: a small JSON document each way. The audited request handler
hashes and keeps these bytes exactly as it does a Kafka request's XML.

A reply carries the letter's legal deadline (issue 14) but not the plain-language explanation:
the console shows its own labels, in its own language, from the same texts catalogue."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from gateway.domain.access_log import AccessLogView
from gateway.domain.deadlines import Deadline, DeadlineKind, DeadlineState, Extension
from gateway.domain.letters import DeadlineClass, HistoryEntry, Status
from gateway.domain.refusals import DecodeError, DecodeFault
from gateway.domain.requests import (
    Fault,
    FaultView,
    RequestHeader,
    StatusRequest,
    StatusView,
)


class JsonLookupCodec:
    """Implements the LookupCodec port (and so the StatusCodec one)."""

    def encode_request(self, request: StatusRequest) -> bytes:
        h = request.header
        document = {
            "client_id": h.client_id,
            "service_code": h.service_code,
            "message_id": h.message_id,
            "protocol_version": h.protocol_version,
            "operator_id": h.operator_id,
            "registration_number": request.registration_number,
            "departments": sorted(request.departments) if request.departments is not None else None,
        }
        return json.dumps(document, sort_keys=True).encode()

    def decode_request(self, raw: bytes) -> StatusRequest:
        try:
            d = json.loads(raw)
            header = RequestHeader(
                client_id=str(d["client_id"]),
                service_code=str(d["service_code"]),
                message_id=str(d["message_id"]),
                protocol_version=str(d["protocol_version"]),
                operator_id=d["operator_id"],
            )
            departments = d["departments"]
            return StatusRequest(
                header,
                d["registration_number"],
                departments=frozenset(departments) if departments is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:  # only the console writes these
            raise DecodeError(DecodeFault.NOT_WELL_FORMED, str(exc)) from exc

    def fault_for(self, error: DecodeError) -> FaultView:
        return FaultView(Fault.INVALID_REQUEST, error.detail)

    def encode_reply(
        self,
        header: RequestHeader | None,
        request_sha256: str,
        result: StatusView | AccessLogView | FaultView,
    ) -> bytes:
        document: dict[str, Any]
        if isinstance(result, AccessLogView):
            # Console requests ask for the status only (StatusRequest.query's default).
            raise TypeError("the console never asks for an applicant's access log")
        if isinstance(result, FaultView):
            document = {"fault": result.code.value, "detail": result.detail}
        else:
            document = {
                "registration_number": result.registration_number,
                "registration_date": _iso(result.registration_date),
                "status": result.status.value,
                "last_change_at": result.last_change_at.isoformat(),
                "department_code": result.department_code,
                "department_name": result.department_name,
                "executor_name": result.executor_name,
                "executor_phone": result.executor_phone,
                "due_date": _iso(result.due_date),
                "history": [
                    [h.sequence, h.status.value, h.at.isoformat(), h.note] for h in result.history
                ],
                "as_of": result.as_of.isoformat(),
                "deadline": _deadline_document(result.deadline),
            }
        document["request_sha256"] = request_sha256
        return json.dumps(document, sort_keys=True).encode()

    def decode_reply(self, raw: bytes) -> StatusView | FaultView:
        d = json.loads(raw)
        if "fault" in d:
            return FaultView(Fault(d["fault"]), d["detail"])
        return StatusView(
            registration_number=d["registration_number"],
            registration_date=_day(d["registration_date"]),
            status=Status(d["status"]),
            last_change_at=datetime.fromisoformat(d["last_change_at"]),
            department_code=d["department_code"],
            department_name=d["department_name"],
            executor_name=d["executor_name"],
            executor_phone=d["executor_phone"],
            due_date=_day(d["due_date"]),
            history=tuple(
                HistoryEntry(seq, Status(status), datetime.fromisoformat(at), note)
                for seq, status, at, note in d["history"]
            ),
            as_of=datetime.fromisoformat(d["as_of"]),
            deadline=_deadline(d["deadline"]),
        )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def _deadline_document(deadline: Deadline | None) -> dict[str, Any] | None:
    if deadline is None:
        return None
    extension = deadline.extension
    return {
        "kind": deadline.kind.value,
        "deadline_class": deadline.deadline_class.value,
        "due_date": deadline.due_date.isoformat(),
        "state": deadline.state.value,
        "working_days_left": deadline.working_days_left,
        "provisional": deadline.provisional,
        "extension": None
        if extension is None
        else {
            "requested_days": extension.requested_days,
            "applied_days": extension.applied_days,
            "reason": extension.reason,
            "applicant_told": extension.applicant_told,
        },
        "dms_due_date": _iso(deadline.dms_due_date),
    }


def _deadline(d: dict[str, Any] | None) -> Deadline | None:
    if d is None:
        return None
    e = d["extension"]
    return Deadline(
        kind=DeadlineKind(d["kind"]),
        deadline_class=DeadlineClass(d["deadline_class"]),
        due_date=date.fromisoformat(d["due_date"]),
        state=DeadlineState(d["state"]),
        working_days_left=d["working_days_left"],
        provisional=d["provisional"],
        extension=None
        if e is None
        else Extension(e["requested_days"], e["applied_days"], e["reason"], e["applicant_told"]),
        dms_due_date=_day(d["dms_due_date"]),
    )
