"""Personal identifiers are compared, never stored: only their keyed hash is kept."""

from __future__ import annotations

import hashlib
import hmac


class IdentifierHasher:
    """HMAC-SHA256 of a normalised identifier (personal id code or tax id)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the identifier hash key must not be empty")
        self._key = key

    def __call__(self, identifier: str) -> str:
        normalised = identifier.strip().upper().encode()
        return hmac.new(self._key, normalised, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the key
        return "IdentifierHasher(<key hidden>)"
