"""Requests from partner agencies: status of one letter or a batch, and outcome reports.

The partner is the one whose request topic the message arrived on; a header naming another
client is refused. A partner sees only letters it forwarded to us or we forwarded to it, and
anything else is the same NOT_FOUND as a number that does not exist. The shared flow (reply
topic, redelivery, audit) is in audited_requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from gateway.domain.letters import Letter
from gateway.domain.partners import (
    BatchItem,
    BatchStatusQuery,
    ItemResult,
    Operation,
    OutcomeAccepted,
    OutcomeReport,
    Partner,
    PartnerLetterView,
    PartnerRequest,
    PartnerResult,
    StatusQuery,
    partner_may_see,
)
from gateway.domain.refusals import DecodeError
from gateway.domain.registration import RegistrationNumber
from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.domain.texts import Language
from gateway.services.audited_requests import Assessment
from gateway.services.deadlines import Deadlines
from gateway.services.ports import PartnerCodec, UnitOfWork

_OPERATION = {
    StatusQuery: Operation.STATUS,
    BatchStatusQuery: Operation.BATCH_STATUS,
    OutcomeReport: Operation.REPORT_OUTCOME,
}


class PartnerRequests:
    """The RequestKind of the partners' request topics."""

    def __init__(
        self,
        partners: Mapping[str, Partner],  # by request topic
        codec: PartnerCodec,
        numbers: re.Pattern[str],  # GATEWAY_REGISTRATION_NUMBER_PATTERN
        batch_max_items: int,
        now: Callable[[], datetime],
        deadlines: Deadlines,
    ) -> None:
        self._partners, self._codec, self._numbers = partners, codec, numbers
        self._batch_max, self._now = batch_max_items, now
        self._deadlines = deadlines

    def allowed_reply_topics(self, request_topic: str) -> frozenset[str]:
        return frozenset({self._partners[request_topic].reply_topic})

    def encode(
        self, header: RequestHeader | None, request_hash: str, result: PartnerResult
    ) -> bytes:
        return self._codec.encode_reply(header, request_hash, result)

    def assess(self, raw: bytes, request_topic: str) -> Assessment[PartnerRequest]:
        partner = self._partners[request_topic]
        try:
            request = self._codec.decode_request(raw)
        except DecodeError as error:
            return Assessment(error.header, fault=self._codec.fault_for(error))
        header = request.header
        number = _audited_number(request)
        if header.client_id != partner.code:  # identity comes from the topic, not the message
            return Assessment(header, None, FaultView(Fault.ACCESS_DENIED), number)
        if _OPERATION[type(request)] not in partner.operations:
            return Assessment(header, None, FaultView(Fault.ACCESS_DENIED, "operation"), number)
        if isinstance(request, BatchStatusQuery) and len(request.items) > self._batch_max:
            detail = f"{len(request.items)} items; at most {self._batch_max}"
            return Assessment(header, None, FaultView(Fault.INVALID_REQUEST, detail), number)
        checked = RegistrationNumber.parse(number, self._numbers)
        return Assessment(
            header,
            request,
            None,
            number,
            reply_key=checked if isinstance(checked, RegistrationNumber) else None,
        )

    async def answer(
        self, uow: UnitOfWork, requests: Sequence[tuple[Assessment[PartnerRequest], str]]
    ) -> list[PartnerResult]:
        return [await self._answer_one(uow, a, topic) for a, topic in requests]

    async def _answer_one(
        self, uow: UnitOfWork, assessment: Assessment[PartnerRequest], request_topic: str
    ) -> PartnerResult:
        partner = self._partners[request_topic]
        request = assessment.request
        assert request is not None, "only requests assessed without a fault are answered"
        if isinstance(request, OutcomeReport):
            return await self._record_outcome(uow, partner, request)
        items = (
            request.items
            if isinstance(request, BatchStatusQuery)
            else (BatchItem("", request.ref),)
        )
        results = await self._look_up(uow, partner, items, request.language)
        if isinstance(request, StatusQuery):
            return (ItemResult(None, results[0].result),)
        return results

    async def _look_up(
        self, uow: UnitOfWork, partner: Partner, items: tuple[BatchItem, ...], language: Language
    ) -> tuple[ItemResult, ...]:
        numbers: dict[str, RegistrationNumber | Fault] = {}
        for item in items:
            if item.ref.registration_number is not None:
                numbers[item.item_id] = RegistrationNumber.parse(
                    item.ref.registration_number, self._numbers
                )
        by_number = await uow.letters.get_many(
            {n for n in numbers.values() if isinstance(n, RegistrationNumber)}
        )
        references = {i.ref.sender_reference for i in items if i.ref.sender_reference}
        by_reference = (
            await uow.partners.letters_by_sender_reference(partner.code, references)
            if references
            else {}
        )
        results = []
        for item in items:
            checked = numbers.get(item.item_id)
            if isinstance(checked, Fault):
                results.append(ItemResult(item.item_id, FaultView(checked)))
                continue
            letter = (
                by_number.get(checked)
                if checked is not None
                else by_reference.get(item.ref.sender_reference or "")
            )
            results.append(ItemResult(item.item_id, self._view_for(partner, letter, language)))
        return tuple(results)

    def _view_for(
        self, partner: Partner, letter: Letter | None, language: Language
    ) -> PartnerLetterView | FaultView:
        if letter is None or not partner_may_see(letter, partner.code):
            return FaultView(Fault.NOT_FOUND)
        assert letter.status is not None and letter.status_at is not None
        department = letter.department
        now = self._now()
        deadline = self._deadlines.of(letter, now)
        return PartnerLetterView(
            registration_number=letter.registration_number,
            registration_date=letter.registration_date,
            # their own reference only: a letter we forwarded to them carries someone else's
            sender_reference=letter.sender_reference
            if letter.forwarded_by_code == partner.code
            else None,
            status=letter.status,
            last_change_at=letter.status_at,
            department_code=department.code if department else None,
            department_name=department.name if department else None,
            answer_date=letter.answer_date,
            as_of=now,
            deadline=deadline,
            explanation=self._deadlines.explain(letter.status, deadline, language),
        )

    async def _record_outcome(
        self, uow: UnitOfWork, partner: Partner, report: OutcomeReport
    ) -> OutcomeAccepted | FaultView:
        checked = RegistrationNumber.parse(report.registration_number, self._numbers)
        if isinstance(checked, Fault):
            return FaultView(checked)
        letter = (await uow.letters.get_many([checked])).get(checked)
        forwarded_to = letter.forwarded_to.code if letter and letter.forwarded_to else None
        if letter is None or forwarded_to != partner.code:  # only letters we sent them
            return FaultView(Fault.NOT_FOUND)
        await uow.partners.add_report(report, self._now())
        return OutcomeAccepted(checked)


def _audited_number(request: PartnerRequest) -> str | None:
    if isinstance(request, OutcomeReport):
        return request.registration_number
    if isinstance(request, StatusQuery):
        return request.ref.registration_number
    return None
