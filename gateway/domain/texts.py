"""Plain-language texts for applicants, in the languages the service speaks.

The texts themselves are data (one catalogue file, read by gateway.reference.status_texts);
this module holds the shape and refuses a catalogue with a gap, so no reply ever lacks its sentence.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.domain.deadlines import Deadline, DeadlineState
from gateway.domain.letters import Status


class Language(enum.StrEnum):
    AZ = "az"  # the default: the state language
    EN = "en"
    RU = "ru"


class Note(enum.StrEnum):
    EXTENDED = "extended"
    PROVISIONAL = "provisional"


@dataclass(frozen=True)
class PlainText:
    label: str
    text: str  # one sentence: what this means for the applicant


Section = Mapping[str, Mapping[Language, PlainText]]


@dataclass(frozen=True)
class StatusTexts:
    statuses: Section
    deadlines: Section
    notes: Section

    def __post_init__(self) -> None:
        for name, section, keys in (
            ("status", self.statuses, list(Status)),
            ("deadline", self.deadlines, list(DeadlineState)),
            ("note", self.notes, list(Note)),
        ):
            for key in keys:
                missing = [lang.value for lang in Language if lang not in section.get(key, {})]
                if missing:
                    raise ValueError(f"[{name}.{key}] lacks {', '.join(missing)}")

    def status(self, status: Status, language: Language) -> PlainText:
        return self.statuses[status][language]

    def deadline(self, state: DeadlineState, language: Language) -> PlainText:
        return self.deadlines[state][language]

    def note(self, note: Note, language: Language) -> PlainText:
        return self.notes[note][language]


@dataclass(frozen=True)
class Explanation:
    """What a reply tells the applicant in words, in the language they asked for."""

    language: Language
    status: PlainText
    deadline: PlainText | None = None
    notes: tuple[PlainText, ...] = ()


def explain(
    texts: StatusTexts, status: Status, deadline: Deadline | None, language: Language
) -> Explanation:
    if deadline is None:
        return Explanation(language, texts.status(status, language))
    notes = [Note.EXTENDED] if deadline.extension else []
    notes += [Note.PROVISIONAL] if deadline.provisional else []
    return Explanation(
        language,
        texts.status(status, language),
        texts.deadline(deadline.state, language),
        tuple(texts.note(note, language) for note in notes),
    )
