"""The partner registry: a TOML file the operator edits, validated when the gateway starts.
Adding a partner is a configuration change, not a code change."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.domain.partners import Operation, Partner

_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"


class _PartnerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")
    name: str = Field(min_length=1, max_length=200)
    request_topic: str = Field(pattern=_TOPIC)
    reply_topic: str = Field(pattern=_TOPIC)
    notification_topic: str = Field(pattern=_TOPIC)
    operations: frozenset[Operation] = Field(min_length=1)


class _Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner: list[_PartnerEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> _Registry:
        codes = [p.code for p in self.partner]
        topics = [
            t for p in self.partner for t in (p.request_topic, p.reply_topic, p.notification_topic)
        ]
        if len(set(codes)) != len(codes):
            raise ValueError("partner codes must be unique")
        if len(set(topics)) != len(topics):
            raise ValueError("every partner topic must be its own (no sharing between partners)")
        return self


class PartnerRegistryError(ValueError):
    pass


def load_partners(path: Path | None, reserved_topics: frozenset[str]) -> tuple[Partner, ...]:
    """Partners from the registry file; none when no file is configured."""
    if path is None:
        return ()
    try:
        registry = _Registry.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        raise PartnerRegistryError(f"partner registry {path}: {error}") from None
    partners = tuple(
        Partner(p.code, p.name, p.request_topic, p.reply_topic, p.notification_topic, p.operations)
        for p in registry.partner
    )
    clashes = {
        t for p in partners for t in (p.request_topic, p.reply_topic, p.notification_topic)
    } & reserved_topics
    if clashes:
        raise PartnerRegistryError(f"partner topics clash with gateway topics: {sorted(clashes)}")
    return partners
