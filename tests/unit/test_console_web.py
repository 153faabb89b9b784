"""The console's web pieces that need no browser: the lookup codec, OIDC claims mapping, the
session rules, the chart geometry and the vendored htmx file."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from console.charts import bar_chart
from console.lookup_codec import JsonLookupCodec
from console.oidc import OidcConfig, parse_role_map, principal_from_claims
from console.security import Timeouts, current_principal, sign_in
from gateway.domain.console import ConsoleRole, Principal
from gateway.domain.deadlines import Deadline, DeadlineKind, DeadlineState, Extension
from gateway.domain.letters import DeadlineClass, HistoryEntry, Status
from gateway.domain.requests import Fault, FaultView, RequestHeader, StatusRequest, StatusView
from gateway.domain.texts import Explanation, Language, PlainText

STATIC = Path(__file__).resolve().parents[2] / "console" / "static"
AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_a_lookup_round_trips_through_the_codec() -> None:
    codec = JsonLookupCodec()
    header = RequestHeader("c", "s", "m1", "1.0", operator_id="op")
    request = StatusRequest(header, "DGK-2026-000001", departments=frozenset({"D1"}))
    assert codec.decode_request(codec.encode_request(request)) == request
    view = StatusView(
        "DGK-2026-000001",
        date(2026, 11, 1),
        Status.IN_PROGRESS,
        AT,
        "D1",
        "<b>D</b>",
        "E",
        "+994",
        date(2026, 11, 20),
        (HistoryEntry(1, Status.REGISTERED, AT, "<i>n</i>"),),
        AT,
    )
    extended = Deadline(
        DeadlineKind.ANSWER,
        DeadlineClass.ADDITIONAL_STUDY,
        date(2026, 12, 30),
        DeadlineState.OVERDUE,
        -2,
        True,
        Extension(40, 30, "<b>inquiry</b> abroad", False),
        date(2026, 12, 28),
    )
    answered = replace(extended, state=DeadlineState.ANSWERED_LATE, working_days_left=None)
    results = (
        view,
        replace(view, deadline=extended),
        replace(view, deadline=replace(answered, extension=None, dms_due_date=None)),
        FaultView(Fault.NOT_FOUND),
    )
    for result in results:
        assert codec.decode_reply(codec.encode_reply(header, "h", result)) == result


def test_a_lookup_reply_leaves_the_explanation_to_the_console() -> None:
    """The console words the deadline itself (in its language, from the same catalogue)."""
    codec = JsonLookupCodec()
    header = RequestHeader("c", "s", "m1", "1.0", operator_id="op")
    view = StatusView(
        "DGK-2026-000001", None, Status.REGISTERED, AT, None, None, None, None, None, (), AT
    )
    explained = replace(view, explanation=Explanation(Language.AZ, PlainText("l", "t")))
    assert codec.decode_reply(codec.encode_reply(header, "h", explained)) == view


CONFIG = OidcConfig(
    "https://idp/.well-known/openid-configuration",
    "console",
    "secret",
    "openid",
    "preferred_username",
    "roles",
    "departments",
    parse_role_map("cc-agent=operator, dept-chief=department-head"),
)


def test_oidc_claims_map_to_roles_and_departments() -> None:
    claims = {
        "preferred_username": "amina",
        "roles": ["dept-chief", "other"],
        "departments": ["D1"],
    }
    assert principal_from_claims(claims, CONFIG) == Principal(
        "amina", frozenset({ConsoleRole.DEPARTMENT_HEAD}), frozenset({"D1"})
    )
    assert principal_from_claims({"sub": "x", "roles": "cc-agent"}, CONFIG) == Principal(
        "x", frozenset({ConsoleRole.OPERATOR})
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "roles": ["unmapped"]},  # no console role
        {"sub": "x", "roles": ["dept-chief"]},  # a head of no department
        {"roles": ["cc-agent"]},  # nobody
    ],
)
def test_oidc_claims_without_a_usable_role_are_refused(claims: dict[str, object]) -> None:
    assert principal_from_claims(claims, CONFIG) is None


def test_a_role_map_naming_an_unknown_console_role_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_role_map("x=superuser")


def test_a_session_ends_when_idle_or_too_old() -> None:
    timeouts = Timeouts(idle_s=10, absolute_s=100)
    principal = Principal("op", frozenset({ConsoleRole.OPERATOR}))
    session: dict[str, object] = {"csrf": "from before sign-in"}
    sign_in(session, principal, now=1000)
    assert session["csrf"] != "from before sign-in"  # a fresh session on sign-in
    assert current_principal(session, timeouts, 1009) == principal
    assert current_principal(session, timeouts, 1018) == principal  # seen at 1009
    assert current_principal(session, timeouts, 1029) is None  # idle 11 s
    assert session == {}
    sign_in(session, principal, now=0)
    for t in range(9, 100, 9):
        assert current_principal(session, timeouts, t) == principal
    assert current_principal(session, timeouts, 101) is None  # used all along, but too old


def test_bars_are_proportional_and_keep_their_values() -> None:
    chart = bar_chart("t", ["a", "b"], [("x", [2, 2]), ("y", [1, 0])])
    x, y = chart.rows
    assert (x.total, x.shown, y.total) == (4, "4", 1)
    assert x.segments[0].width == x.segments[1].width == 2 * y.segments[0].width


def test_the_vendored_htmx_is_the_recorded_version() -> None:
    notes = (STATIC / "VENDORED.md").read_text()
    recorded = re.search(r"`htmx-2\.0\.11\.min\.js` .*? `([0-9a-f]{64})`", notes)
    assert recorded is not None
    actual = hashlib.sha256((STATIC / "htmx-2.0.11.min.js").read_bytes()).hexdigest()
    assert actual == recorded.group(1)
    assert (STATIC / "htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_the_oidc_client_is_registered_from_the_settings_without_contacting_the_provider() -> None:
    from console.oidc import oidc_client

    client = oidc_client(CONFIG)
    assert (client.client_id, client.client_kwargs["code_challenge_method"]) == ("console", "S256")
