"""The console as a Starlette application: `build_console(services, config)`. The composition
root mounts it at /console on the gateway's ASGI app. Every page is a server-rendered form that
works with plain posts; htmx (vendored, static/) swaps in the result where the browser runs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from console.charts import bar_chart, column_chart
from console.oidc import OidcConfig, oidc_client, principal_from_claims
from console.security import (
    CSRF_FIELD,
    CsrfMiddleware,
    SecurityHeadersMiddleware,
    Timeouts,
    csrf_token,
    current_principal,
    sign_in,
)
from gateway.domain.console import ConsoleRole, Principal
from gateway.domain.deadlines import DeadlineState
from gateway.domain.letters import Status
from gateway.domain.requests import FaultView, StatusView
from gateway.domain.texts import Language, Note
from gateway.reference.status_texts import status_texts
from gateway.reports.periods import Period, PeriodError, period_from
from gateway.reports.render import render_csv
from gateway.services.console import ConsoleLookups, Oversight, Refused, require
from gateway.services.signin import SignIn

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "console_session"
LANGUAGE = Language.EN  # of the console's labels, taken from the applicants' texts catalogue

# The page each role lands on after signing in, in this order of preference.
LANDING = (
    (ConsoleRole.OPERATOR, "lookup"),
    (ConsoleRole.DEPARTMENT_HEAD, "workload"),
    (ConsoleRole.CONTROLLER, "dashboard"),
    (ConsoleRole.AUDITOR, "audit"),
)


@dataclass(frozen=True)
class ConsoleServices:
    lookups: ConsoleLookups
    oversight: Oversight
    signin: SignIn
    control_report: Callable[[Period], Awaitable[dict[str, Any]]]  # the reports' own code
    # the same code, only the sections the dashboard draws
    dashboard_report: Callable[[Period], Awaitable[dict[str, Any]]]
    today: Callable[[], date]


@dataclass(frozen=True)
class ConsoleConfig:
    session_secret: str
    secure_cookies: bool  # behind TLS: cookies only over HTTPS
    timeouts: Timeouts
    oidc: OidcConfig | None = None
    password_sign_in: bool = True
    clock: Callable[[], float] = time.time


class _NotSignedIn(Exception):
    pass


class ConsolePages:
    def __init__(self, services: ConsoleServices, config: ConsoleConfig) -> None:
        self.s, self.config = services, config
        # Autoescape on: every DMS or requester text reaches the page as text, never markup.
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
        )
        self.templates = Jinja2Templates(env=environment)
        texts = status_texts()
        environment.globals.update(
            status_label=lambda s: texts.status(Status(s), LANGUAGE).label,
            deadline_label=lambda state: texts.deadline(DeadlineState(state), LANGUAGE).label,
            note_label=lambda note: texts.note(Note(note), LANGUAGE).label,
        )
        self.oidc = oidc_client(config.oidc) if config.oidc else None

    # ---- helpers -------------------------------------------------------------------------

    def principal(self, request: HTTPConnection) -> Principal:
        found = current_principal(request.session, self.config.timeouts, self.config.clock())
        if found is None:
            raise _NotSignedIn
        return found

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        principal = current_principal(request.session, self.config.timeouts, self.config.clock())
        context.update(
            principal=principal,
            csrf_field=CSRF_FIELD,
            csrf_token=csrf_token(request.session),
            roles=ConsoleRole,
            oidc=self.oidc is not None,
            password_sign_in=self.config.password_sign_in,
        )
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    @staticmethod
    def client(request: HTTPConnection) -> str:
        return request.client.host if request.client else "unknown"

    # ---- sign-in and out -----------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        principal = self.principal(request)
        for role, route in LANDING:
            if principal.has(role):
                return RedirectResponse(request.url_for(route), 303)
        raise Refused

    async def signin_form(self, request: Request) -> Response:
        return self.page(request, "signin.html")

    async def signin_submit(self, request: Request) -> Response:
        if not self.config.password_sign_in:
            raise Refused
        form = await request.form()
        result = await self.s.signin.with_password(
            str(form.get("username", "")), str(form.get("password", "")), self.client(request)
        )
        if isinstance(result, Principal):
            sign_in(request.session, result, self.config.clock())
            return RedirectResponse(request.url_for("home"), 303)
        refused = result.value == "RATE_LIMITED"
        message = (
            "Too many sign-in attempts. Wait a minute and try again."
            if refused
            else "Sign-in refused: the username or password is wrong, or the account is disabled."
        )
        return self.page(request, "signin.html", 429 if refused else 401, error=message)

    async def signout(self, request: Request) -> Response:
        principal = current_principal(request.session, self.config.timeouts, self.config.clock())
        if principal is not None:
            await self.s.signin.signed_out(principal, self.client(request))
        request.session.clear()
        return RedirectResponse(request.url_for("signin"), 303)

    async def oidc_login(self, request: Request) -> Response:
        if self.oidc is None:
            raise Refused
        redirect: Response = await self.oidc.authorize_redirect(
            request, str(request.url_for("oidc_callback"))
        )
        return redirect

    async def oidc_callback(self, request: Request) -> Response:
        if self.oidc is None or self.config.oidc is None:
            raise Refused
        token = await self.oidc.authorize_access_token(request)
        claims = token.get("userinfo") or {}
        principal = principal_from_claims(claims, self.config.oidc)
        if principal is None:
            await self.s.signin.refused_elsewhere(str(claims.get("sub", "?")), self.client(request))
            return self.page(
                request, "signin.html", 403, error="Your account has no role in this console."
            )
        await self.s.signin.signed_in_elsewhere(principal, self.client(request))
        sign_in(request.session, principal, self.config.clock())
        return RedirectResponse(request.url_for("home"), 303)

    # ---- operator and department head: one letter ----------------------------------------

    async def lookup_form(self, request: Request) -> Response:
        require(self.principal(request), ConsoleRole.OPERATOR, ConsoleRole.DEPARTMENT_HEAD)
        return self.page(request, "lookup.html", result=None, number="")

    async def lookup_submit(self, request: Request) -> Response:
        form = await request.form()
        return await self._lookup(request, str(form.get("number", "")))

    async def letter(self, request: Request) -> Response:
        return await self._lookup(request, request.path_params["number"])

    async def _lookup(self, request: Request, number: str) -> Response:
        result = await self.s.lookups.lookup(self.principal(request), number)
        template = "_letter.html" if request.headers.get("hx-request") else "lookup.html"
        letter = result if isinstance(result, StatusView) else None
        fault = result if isinstance(result, FaultView) else None
        # A refusal is a normal answer (htmx swaps only 2xx); it reads the same for a letter
        # that does not exist and one the user may not see.
        return self.page(
            request,
            template,
            result=result,
            letter=letter,
            fault=fault,
            number=number[:64],
        )

    # ---- department head -----------------------------------------------------------------

    async def workload(self, request: Request) -> Response:
        departments = await self.s.oversight.workload(self.principal(request))
        return self.page(request, "workload.html", departments=departments, today=self.s.today())

    # ---- controller ----------------------------------------------------------------------

    def _period(self, request: Request) -> Period:
        label = request.query_params.get("period") or self.s.today().strftime("%Y-%m")
        return period_from(label[:16], None, None)

    async def dashboard(self, request: Request) -> Response:
        principal = self.principal(request)
        require(principal, ConsoleRole.CONTROLLER)
        try:
            period = self._period(request)
        except PeriodError as exc:
            return self.page(request, "dashboard.html", 400, error=str(exc), period_label="")
        report = await self.s.dashboard_report(period)
        daily = await self.s.oversight.requests_per_day(principal, period.start, period.end)
        charts = _dashboard_charts(report, daily)
        template = "_dashboard.html" if request.headers.get("hx-request") else "dashboard.html"
        return self.page(request, template, report=report, charts=charts, period_label=period.label)

    async def report_csv(self, request: Request) -> Response:
        require(self.principal(request), ConsoleRole.CONTROLLER)
        try:
            period = self._period(request)
        except PeriodError as exc:
            return Response(str(exc), 400, media_type="text/plain")
        report = await self.s.control_report(period)
        return Response(
            render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="control-report-{period.label}.csv"'
            },
        )

    # ---- auditor -------------------------------------------------------------------------

    async def audit(self, request: Request) -> Response:
        principal = self.principal(request)
        require(principal, ConsoleRole.AUDITOR)
        number = request.query_params.get("number", "").strip()[:64]
        trail = await self.s.oversight.access_trail(principal, number) if number else None
        return self.page(request, "audit.html", number=number, trail=trail)

    async def dead_letters(self, request: Request) -> Response:
        entries = await self.s.oversight.dead_letters(self.principal(request))
        return self.page(request, "dead_letters.html", entries=entries)

    # ---- refusals ------------------------------------------------------------------------

    async def refused(self, request: Request, exc: Exception) -> Response:
        return self.page(request, "refused.html", 403)

    async def not_signed_in(self, request: Request, exc: Exception) -> Response:
        target = str(request.url_for("signin"))
        if request.headers.get("hx-request"):  # htmx would swap the sign-in page into a box
            return Response(status_code=204, headers={"hx-redirect": target})
        return RedirectResponse(target, 303)

    def csrf_refused(self, conn: HTTPConnection) -> Response:
        return self.templates.TemplateResponse(
            Request(conn.scope), "csrf.html", {"signin": str(conn.url_for("signin"))}, 403
        )


def _dashboard_charts(report: dict[str, Any], daily: list[Any]) -> Any:
    outcomes = sorted({d.outcome for d in daily} | set(report["requests"]["by_outcome"]))
    deadlines = report["deadlines"]
    days: dict[str, list[float]] = {}
    for d in daily:
        days.setdefault(d.day.isoformat(), [0.0] * len(outcomes))[outcomes.index(d.outcome)] += (
            d.count
        )
    by_channel: dict[str, list[float]] = {}
    for r in report["requests"]["by_channel_client_outcome"]:
        by_channel.setdefault(r["channel"], [0.0] * len(outcomes))[
            outcomes.index(r["outcome"])
        ] += r["count"]
    return {
        "per_day": column_chart("Requests per day, by outcome", outcomes, sorted(days.items())),
        "by_channel": bar_chart(
            "Requests by channel and outcome", outcomes, sorted(by_channel.items())
        ),
        "latency": bar_chart(
            "Reply time by channel (seconds): half and 95% of the replies came within",
            ["median", "p95"],
            [
                (f"{c['channel']} median", [c["median_s"] or 0.0, 0.0])
                for c in report["reply_time"]["by_channel"]
            ]
            + [
                (f"{c['channel']} p95", [0.0, c["p95_s"] or 0.0])
                for c in report["reply_time"]["by_channel"]
            ],
            " s",
        ),
        "timeliness": bar_chart(
            "Letters due in the period: answered on time and late (legal deadline), by department",
            ["on time", "late"],
            [
                (d["department"], [d["answered_on_time"], d["answered_late"]])
                for d in deadlines["by_department"]
            ],
        ),
        "overdue": bar_chart(
            f"Overdue now (legal deadline, as of {deadlines['overdue_as_of']}), by department",
            ["overdue"],
            [(d["department"], [d["count"]]) for d in deadlines["overdue_now"]["by_department"]],
        ),
    }


def build_console(services: ConsoleServices, config: ConsoleConfig) -> Starlette:
    pages = ConsolePages(services, config)
    routes = [
        Route("/", pages.home, name="home"),
        Route("/signin", pages.signin_form, name="signin"),
        Route("/signin", pages.signin_submit, methods=["POST"], name="signin_submit"),
        Route("/signout", pages.signout, methods=["POST"], name="signout"),
        Route("/oidc/login", pages.oidc_login, name="oidc_login"),
        Route("/oidc/callback", pages.oidc_callback, name="oidc_callback"),
        Route("/lookup", pages.lookup_form, name="lookup"),
        Route("/lookup", pages.lookup_submit, methods=["POST"], name="lookup_submit"),
        Route("/letters/{number}", pages.letter, name="letter"),
        Route("/workload", pages.workload, name="workload"),
        Route("/dashboard", pages.dashboard, name="dashboard"),
        Route("/dashboard/report.csv", pages.report_csv, name="report_csv"),
        Route("/audit", pages.audit, name="audit"),
        Route("/dead-letters", pages.dead_letters, name="dead_letters"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=config.session_secret,
                session_cookie=SESSION_COOKIE,
                max_age=int(config.timeouts.absolute_s),
                same_site="lax",  # strict would drop the session on the IdP's redirect back
                https_only=config.secure_cookies,
            ),
            Middleware(CsrfMiddleware, refused=pages.csrf_refused),
        ],
        exception_handlers={Refused: pages.refused, _NotSignedIn: pages.not_signed_in},
    )
