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
    LetterExtended,
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


def extended(sequence: int, days: int, reason: str = "Sorğu göndərilib") -> LetterExtended:
    return LetterExtended(
        **_event_kwargs(sequence), working_days=days, reason=reason, applicant_told=True
    )


def test_an_extension_keeps_its_term_reason_and_the_status_moves_to_in_progress():
    state = fold([registered(), assigned(2), extended(3, 20)]).letter
    assert (state.extension_days, state.extension_reason) == (20, "Sorğu göndərilib")
    assert state.extension_applicant_told and state.status is Status.IN_PROGRESS
    assert fold([registered(), assigned(2), extended(3, 20)]).history[3].note == "Sorğu göndərilib"


def test_a_later_extension_event_corrects_the_earlier_one_in_any_order():
    first, correction = extended(3, 30, "ilk"), extended(5, 10, "düzəliş")
    for events in ([first, correction], [correction, first]):
        state = fold([registered(), *events]).letter
        assert (state.extension_days, state.extension_reason) == (10, "düzəliş")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=3),
    st.booleans(),
    st.data(),
)
def test_with_extensions_any_order_duplication_and_split_gives_the_same_letter(
    extension_days, answered, data
):
    events: list[DmsEvent] = [registered(1), assigned(2)]
    for days in extension_days:
        events.append(extended(len(events) + 1, days, f"reason {len(events)}"))
    if answered:
        events.append(
            LetterConcluded(
                **_event_kwargs(len(events) + 1),
                outcome=Status.ANSWERED,
                answer_date=date(2026, 4, 1),
                outgoing_reference="OUT-9",
            )
        )
    whole = fold(events)
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = data.draw(st.permutations(events + duplicates))
    disordered = fold(shuffled)
    assert disordered.letter == whole.letter and disordered.history == whole.history
    assert whole.letter.extension_days == extension_days[-1]  # the highest sequence wins
    cut = data.draw(st.integers(min_value=1, max_value=len(shuffled)))
    parts = fold(shuffled[:cut]).letter, fold(shuffled[cut:] or shuffled[:1]).letter
    assert parts[0].merge(parts[1]) == whole.letter == parts[1].merge(parts[0])
