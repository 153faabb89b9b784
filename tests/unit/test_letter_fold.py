"""The letter fold: the store must equal what the DMS said, whatever order the stream has."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import (
    Applicant,
    ApplicantKind,
    Channel,
    Department,
    DmsEvent,
    Executor,
    Letter,
    LetterAssigned,
    LetterConcluded,
    LetterFold,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.tools.simulator import generate_events, letter_events

hasher = IdentifierHasher(b"test-key")
NUMBER = "DGK-2026-000001"
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _event_kwargs(sequence: int) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4(),
        "registration_number": NUMBER,
        "sequence": sequence,
        "occurred_at": T0 + timedelta(hours=sequence),
    }


def registered(sequence: int = 1) -> LetterRegistered:
    return LetterRegistered(
        **_event_kwargs(sequence),
        registration_date=date(2026, 3, 1),
        channel=Channel.EGOV_PORTAL,
        applicant=Applicant(ApplicantKind.PERSON, "5abc123", "Ali"),
        subject="Gömrük rüsumu",
        due_date=date(2026, 3, 31),
    )


def assigned(sequence: int, executor: str = "E1") -> LetterAssigned:
    return LetterAssigned(
        **_event_kwargs(sequence),
        department=Department("DGK-VHI", "Müraciətlər idarəsi"),
        executor=Executor(executor, f"Executor {executor}", "+994 12 000 00 00"),
    )


def fold(events: list[DmsEvent]) -> LetterFold:
    letter_fold = LetterFold(letter=Letter(events[0].registration_number))
    for event in events:
        letter_fold.apply(event, hasher)
    return letter_fold


def test_registration_sets_the_applicant_as_a_keyed_hash_only():
    state = fold([registered()]).letter
    assert state.status is Status.REGISTERED
    assert state.applicant_hash == hasher("5ABC123")
    assert "5abc123".upper() not in repr(state).upper()


def test_an_older_event_never_overwrites_newer_state():
    newer, older = assigned(3, executor="E-new"), assigned(2, executor="E-old")
    state = fold([registered(), newer, older]).letter
    assert state.executor is not None and state.executor.id == "E-new"
    assert state.status is Status.ASSIGNED and state.status_seq == 3


def test_an_older_event_still_lands_in_history_at_its_place():
    events = [
        registered(1),
        StatusChanged(**_event_kwargs(4), status=Status.IN_PROGRESS),
        assigned(2),
    ]
    history = fold(events).history
    assert [history[s].status for s in sorted(history)] == [
        Status.REGISTERED,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
    ]


def test_status_before_registration_keeps_the_status_and_fills_in_registration_later():
    answered = LetterConcluded(
        **_event_kwargs(5),
        outcome=Status.ANSWERED,
        answer_date=date(2026, 3, 9),
        outgoing_reference="OUT-1",
    )
    early = fold([answered]).letter
    assert not early.is_registered and early.status is Status.ANSWERED
    late = fold([answered, registered(1)]).letter
    assert late.is_registered and late.status is Status.ANSWERED
    assert late.registration_date == date(2026, 3, 1) and late.answer_reference == "OUT-1"


def test_a_duplicate_event_has_no_effect():
    event = assigned(2)
    once, twice = fold([registered(), event]), fold([registered(), event, event])
    assert once.letter == twice.letter and once.history == twice.history


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0), st.data())
def test_any_permutation_and_duplication_gives_the_same_final_state(index, seed, data):
    events = letter_events(index, random.Random(seed))
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = data.draw(st.permutations(events + duplicates))
    in_order, disordered = fold(events), fold(shuffled)
    assert disordered.letter == in_order.letter
    assert disordered.history == in_order.history


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0), st.data())
def test_folding_any_split_of_the_events_and_merging_the_parts_gives_the_same_letter(
    index, seed, data
):
    """What lets the store merge a batch into a row another replica may be merging into."""
    events = letter_events(index, random.Random(seed))
    shuffled = data.draw(st.permutations(events))
    cut = data.draw(st.integers(min_value=0, max_value=len(shuffled)))
    first, second = fold(shuffled[:cut] or [events[0]]), fold(shuffled[cut:] or [events[0]])
    whole = fold(events).letter
    assert first.letter.merge(second.letter) == whole
    assert second.letter.merge(first.letter) == whole


def test_merging_the_same_state_again_changes_nothing():
    letter = fold([registered(), assigned(2)]).letter
    assert letter.merge(letter) == letter
    assert letter.merge(Letter(NUMBER)) == letter


def test_the_simulated_stream_is_deterministic_per_seed():
    first = [e.event_id for e in generate_events(20, seed=7)]
    assert first == [e.event_id for e in generate_events(20, seed=7)]
    assert first != [e.event_id for e in generate_events(20, seed=8)]
