"""The sealed audit log: audit rows hashed in a canonical byte form, sealed into hash-linked
blocks (a Merkle tree over the rows, RFC 6962 style, and the previous block's hash), and the
checks an auditor runs against stored blocks and their witness copies.

Pure: standard library only. Hashes are lowercase hex SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

# Every column of an audit row, in the order they enter the canonical form. A unit test checks
# that the store's request_audit table has exactly these columns: a new column is sealed too.
SEALED_FIELDS = (
    "id",
    "client_id",
    "message_id",
    "correlation_id",
    "request_topic",
    "reply_topic",
    "end_user_hash",
    "operator_id",
    "registration_number",
    "outcome",
    "request_hash",
    "reply_hash",
    "received_at",
    "replied_at",
)
GENESIS = "0" * 64  # the "previous hash" of block 1

SealedValue = str | int | datetime | None


def _canonical_value(value: SealedValue) -> str | int | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("audit times are timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical_row(row: Mapping[str, SealedValue]) -> bytes:
    """One audit row as bytes: a compact JSON array of SEALED_FIELDS' values, in that order,
    times in UTC with microseconds (ISO 8601, +00:00). JSON strings are unambiguous (no field
    separator to forge), and the form does not depend on the database or driver read from."""
    values = [_canonical_value(row[name]) for name in SEALED_FIELDS]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(row: Mapping[str, SealedValue]) -> str:
    return hashlib.sha256(b"\x00" + canonical_row(row)).hexdigest()  # RFC 6962 leaf prefix


def row_seal(row: Mapping[str, SealedValue]) -> tuple[int, str]:
    """(row id, row hash): what a block records of each of its rows."""
    row_id = row["id"]
    if not isinstance(row_id, int):
        raise ValueError("an audit row's id is an integer")
    return row_id, row_hash(row)


def merkle_root(leaf_hashes: Sequence[str]) -> str:
    """RFC 6962 Merkle tree hash over already-hashed leaves: interior nodes are
    SHA-256(0x01 || left || right), the split at the largest power of two below n."""
    if not leaf_hashes:
        return hashlib.sha256(b"").hexdigest()
    nodes = [bytes.fromhex(h) for h in leaf_hashes]
    return _subtree(nodes).hex()


def _subtree(nodes: list[bytes]) -> bytes:
    if len(nodes) == 1:
        return nodes[0]
    split = 1 << ((len(nodes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _subtree(nodes[:split]) + _subtree(nodes[split:])).digest()


@dataclass(frozen=True)
class BlockHead:
    """One sealed block: rows with after_row_id < id <= last_row_id, all of them, no other."""

    number: int
    after_row_id: int
    last_row_id: int
    row_count: int
    rows_root: str
    previous_hash: str
    sealed_at: datetime
    block_hash: str

    def computed_hash(self) -> str:
        return block_hash(
            self.number,
            self.after_row_id,
            self.last_row_id,
            self.row_count,
            self.rows_root,
            self.previous_hash,
            self.sealed_at,
        )

    def witness_record(self) -> bytes:
        """The head as published to the witness topic (JSON, one line)."""
        return json.dumps(
            {
                "number": self.number,
                "after_row_id": self.after_row_id,
                "last_row_id": self.last_row_id,
                "row_count": self.row_count,
                "rows_root": self.rows_root,
                "previous_hash": self.previous_hash,
                "sealed_at": _canonical_value(self.sealed_at),
                "block_hash": self.block_hash,
            },
            separators=(",", ":"),
        ).encode()


def block_hash(
    number: int,
    after_row_id: int,
    last_row_id: int,
    row_count: int,
    rows_root: str,
    previous_hash: str,
    sealed_at: datetime,
) -> str:
    head = [number, after_row_id, last_row_id, row_count, rows_root, previous_hash]
    form = json.dumps([*head, _canonical_value(sealed_at)], separators=(",", ":"))
    return hashlib.sha256(b"block\x00" + form.encode()).hexdigest()


def seal(
    previous: BlockHead | None, rows: Sequence[tuple[int, str]], sealed_at: datetime
) -> BlockHead:
    """The block after `previous` over `rows` (id, row hash), which must be every row after
    the previous block's last row, in id order."""
    if not rows:
        raise ValueError("a block seals at least one row")
    ids = [row_id for row_id, _ in rows]
    after = previous.last_row_id if previous else 0
    if ids != sorted(set(ids)) or ids[0] <= after:
        raise ValueError("rows must follow the previous block, in ascending id order")
    number = previous.number + 1 if previous else 1
    previous_hash = previous.block_hash if previous else GENESIS
    root = merkle_root([h for _, h in rows])
    digest = block_hash(number, after, ids[-1], len(ids), root, previous_hash, sealed_at)
    return BlockHead(number, after, ids[-1], len(ids), root, previous_hash, sealed_at, digest)


# ---- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """The first thing found wrong: which block, which row if a row, and what."""

    block: int
    row_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"block {self.block}" + (f", row {self.row_id}" if self.row_id is not None else "")
        return f"{where}: {self.problem}"


def check_block(
    head: BlockHead,
    previous_hash: str,
    members: Mapping[int, str],
    rows: Mapping[int, str],
    witness_hash: str | None,
) -> Mismatch | None:
    """Check one stored block.

    previous_hash: the hash the chain so far says the previous block has;
    members: the row hashes recorded when the block was sealed, by row id;
    rows: the hashes recomputed now from the rows in the block's id range, by row id;
    witness_hash: the block's hash as the witness topic has it (None: not published yet).
    Rows are checked before the block's own fields, so a changed row is named as such."""
    for row_id in sorted(members.keys() | rows.keys()):
        sealed, now = members.get(row_id), rows.get(row_id)
        if now is None:
            return Mismatch(head.number, row_id, "sealed row is missing (deleted)")
        if sealed is None:
            return Mismatch(
                head.number, row_id, "row in the sealed range was never sealed (inserted)"
            )
        if sealed != now:
            return Mismatch(head.number, row_id, "row differs from its sealed hash (changed)")
    if head.previous_hash != previous_hash:
        return Mismatch(head.number, None, "previous-block hash does not link to the chain")
    ids = sorted(members)
    in_range = all(head.after_row_id < i <= head.last_row_id for i in ids)
    if not in_range or len(ids) != head.row_count or (ids and ids[-1] != head.last_row_id):
        return Mismatch(head.number, None, "sealed rows do not match the block's id range")
    if merkle_root([members[i] for i in ids]) != head.rows_root:
        return Mismatch(head.number, None, "rows' Merkle root differs from the block's")
    if head.computed_hash() != head.block_hash:
        return Mismatch(head.number, None, "block hash differs from its recomputation")
    if witness_hash is not None and witness_hash != head.block_hash:
        return Mismatch(head.number, None, "block differs from its witness record (rewritten)")
    return None
