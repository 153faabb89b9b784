"""What `verify-audit` checks: the chain recomputed from the audit rows, against the stored
blocks and against the block heads on the witness topic (a copy outside the database)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from gateway.domain.audit_chain import GENESIS, BlockHead, Mismatch, check_block, row_seal
from gateway.services.ports import UnitOfWork, UnsealedRows


@dataclass(frozen=True)
class AuditVerification:
    blocks_checked: int
    rows_checked: int
    mismatch: Mismatch | None
    unwitnessed_blocks: int  # sealed, head not on the witness topic yet
    unsealed: UnsealedRows

    @property
    def intact(self) -> bool:
        return self.mismatch is None


async def verify_audit(
    uow_factory: Callable[[], UnitOfWork],
    witness: Mapping[int, str],
    first_day: date | None = None,
    last_day: date | None = None,
) -> AuditVerification:
    """Check the blocks sealed on those days (all by default), in chain order, and stop at the
    first mismatch. `witness` maps block number to block hash as the witness topic has it."""
    checked = rows_checked = unwitnessed = 0
    async with uow_factory() as uow:
        blocks = await uow.audit.blocks(first_day, last_day)
        last = await uow.audit.last_block()
        unsealed = await uow.audit.unsealed(last.last_row_id if last else 0)
        mismatch: Mismatch | None = None
        previous_hash = GENESIS
        if blocks and blocks[0].number > 1:  # a range from mid-chain: anchored on the block before
            number = blocks[0].number - 1
            anchor = await uow.audit.block(number)
            mismatch = _check_anchor(number, anchor, witness)
            previous_hash = anchor.block_hash if anchor else GENESIS
        for head in blocks:
            expected_number = blocks[0].number + checked
            if mismatch is None and head.number != expected_number:
                mismatch = Mismatch(expected_number, None, "block is missing")
            if mismatch is not None:
                break
            members = await uow.audit.seals(head.number)
            found = await uow.audit.rows(head.after_row_id, head.last_row_id, None)
            rows = dict(row_seal(r) for r in found)
            witness_hash = witness.get(head.number)
            mismatch = check_block(head, previous_hash, members, rows, witness_hash)
            previous_hash = head.block_hash
            checked += 1
            rows_checked += len(rows)
            unwitnessed += witness_hash is None
        if mismatch is None and last_day is None:
            mismatch = _witnessed_beyond_store(last.number if last else 0, witness)
    return AuditVerification(checked, rows_checked, mismatch, unwitnessed, unsealed)


def _check_anchor(
    number: int, anchor: BlockHead | None, witness: Mapping[int, str]
) -> Mismatch | None:
    if anchor is None:
        return Mismatch(number, None, "block is missing")
    if anchor.computed_hash() != anchor.block_hash:
        return Mismatch(number, None, "block hash differs from its recomputation")
    if number in witness and witness[number] != anchor.block_hash:
        return Mismatch(number, None, "block differs from its witness record (rewritten)")
    return None


def _witnessed_beyond_store(last_stored: int, witness: Mapping[int, str]) -> Mismatch | None:
    """The witness knows blocks the store has lost: the chain's tail was cut."""
    beyond = [n for n in witness if n > last_stored]
    if beyond:
        return Mismatch(min(beyond), None, "block is on the witness topic but not in the store")
    return None
