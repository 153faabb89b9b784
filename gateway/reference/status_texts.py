"""The applicant-facing texts catalogue (gateway/data/status-texts.toml), read once."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from gateway.domain.texts import Language, PlainText, Section, StatusTexts

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "status-texts.toml"


@cache
def status_texts() -> StatusTexts:
    """The shipped catalogue; a gap or a malformed entry fails here, at start."""
    data = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    return StatusTexts(_section(data, "status"), _section(data, "deadline"), _section(data, "note"))


def _section(data: dict[str, object], name: str) -> Section:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{CATALOGUE.name}: no [{name}.*] tables")
    parsed: dict[str, dict[Language, PlainText]] = {}
    for key, by_language in section.items():
        parsed[key] = {}
        for language, entry in by_language.items():
            if set(entry) != {"label", "text"} or not all(
                isinstance(v, str) and v.strip() for v in entry.values()
            ):
                raise ValueError(f"{CATALOGUE.name}: [{name}.{key}] {language} needs label, text")
            parsed[key][Language(language)] = PlainText(entry["label"], entry["text"])
    return parsed
