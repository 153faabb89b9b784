"""The sealed audit log's hashing and checks (gateway/domain/audit_chain.py)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.audit_chain import (
    GENESIS,
    SEALED_FIELDS,
    BlockHead,
    canonical_row,
    check_block,
    merkle_root,
    row_seal,
    seal,
)
from gateway.store.tables import request_audit

T0 = datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC)


def audit_row(row_id: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {name: f"{name}-{row_id}" for name in SEALED_FIELDS}
    row.update(id=row_id, correlation_id=None, received_at=T0, replied_at=T0 + timedelta(0, 1))
    row.update(changes)
    return row


def test_every_audit_column_is_sealed():
    assert tuple(c.name for c in request_audit.c) == SEALED_FIELDS


def test_the_canonical_form_is_the_same_for_the_same_instant_in_any_zone():
    baku = T0.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert canonical_row(audit_row(1)) == canonical_row(audit_row(1, received_at=baku))
    assert b'"2026-11-28T09:00:00.123456+00:00"' in canonical_row(audit_row(1))


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "NOT_FOUND"},
        {"correlation_id": ""},  # empty is not absent
        {"received_at": T0 + timedelta(microseconds=1)},
        {"client_id": 'a","b'},  # no separator to forge
    ],
)
def test_any_change_to_a_row_changes_its_hash(change):
    assert row_seal(audit_row(1))[1] != row_seal(audit_row(1, **change))[1]


def test_merkle_root_follows_rfc_6962():
    leaves = [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(3)]

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    expected = node(node(leaves[0], leaves[1]), leaves[2])  # split at the largest power of two
    assert merkle_root([leaf.hex() for leaf in leaves]) == expected.hex()
    assert merkle_root([leaves[0].hex()]) == leaves[0].hex()


def test_blocks_link_to_the_previous_block_and_cover_the_rows_after_it():
    first = seal(None, [row_seal(audit_row(i)) for i in (1, 2)], T0)
    second = seal(first, [row_seal(audit_row(i)) for i in (3, 5)], T0)
    assert (first.number, first.previous_hash, first.after_row_id) == (1, GENESIS, 0)
    assert (second.number, second.previous_hash) == (2, first.block_hash)
    assert (second.after_row_id, second.last_row_id, second.row_count) == (2, 5, 2)
    assert second.computed_hash() == second.block_hash


def test_a_block_refuses_rows_out_of_order_or_already_sealed():
    first = seal(None, [row_seal(audit_row(1))], T0)
    with pytest.raises(ValueError):
        seal(first, [row_seal(audit_row(1))], T0)
    with pytest.raises(ValueError):
        seal(None, [row_seal(audit_row(3)), row_seal(audit_row(2))], T0)


def sealed_block() -> tuple[BlockHead, dict[int, str]]:
    members = dict(row_seal(audit_row(i)) for i in (1, 2, 4))
    return seal(None, sorted(members.items()), T0), members


def test_an_intact_block_passes():
    head, members = sealed_block()
    assert check_block(head, GENESIS, members, dict(members), head.block_hash) is None
    assert check_block(head, GENESIS, members, dict(members), None) is None  # not witnessed yet


def test_a_changed_deleted_or_inserted_row_is_named():
    head, members = sealed_block()
    changed = {**members, 2: row_seal(audit_row(2, outcome="FORGED"))[1]}
    deleted = {i: h for i, h in members.items() if i != 2}
    inserted = {**members, 3: row_seal(audit_row(3))[1]}
    cases = (changed, deleted, inserted)
    found = [check_block(head, GENESIS, members, rows, None) for rows in cases]
    assert [(m.block, m.row_id) for m in found if m] == [(1, 2), (1, 2), (1, 3)]
    assert ["changed" in found[0].problem, "deleted" in found[1].problem] == [True, True]
    assert "inserted" in found[2].problem


def test_a_block_rewritten_consistently_is_caught_only_by_its_witness():
    head, members = sealed_block()
    forged_members = {**members, 2: row_seal(audit_row(2, outcome="FORGED"))[1]}
    forged = seal(None, sorted(forged_members.items()), T0)
    assert check_block(forged, GENESIS, forged_members, forged_members, None) is None
    mismatch = check_block(forged, GENESIS, forged_members, forged_members, head.block_hash)
    assert mismatch is not None and "witness" in mismatch.problem


def test_a_block_that_does_not_link_or_whose_head_was_edited_fails():
    head, members = sealed_block()
    unlinked = check_block(head, "f" * 64, members, members, None)
    edited_head = replace(head, sealed_at=T0 + timedelta(1))
    edited = check_block(edited_head, GENESIS, members, members, None)
    assert unlinked is not None and "link" in unlinked.problem
    assert edited is not None and "recomputation" in edited.problem
