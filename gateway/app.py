"""The composition root: the one place that builds the gateway from settings and wires
codecs, store, use cases, consumers and producers together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import date
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette

from console.app import ConsoleConfig, ConsoleServices, build_console
from console.lookup_codec import JsonLookupCodec
from console.oidc import OidcConfig, parse_role_map
from console.security import Timeouts
from consumers.dms_events import subscribe_dms_events
from consumers.requests import subscribe_requests
from gateway.clock import utc_now
from gateway.domain.access import RequestChannel, Role
from gateway.domain.access_log import AccessChannel, AccessLogPolicy, AccessLogView, AccessSource
from gateway.domain.partners import Operation
from gateway.domain.rate_limit import RateLimiter
from gateway.domain.requests import StatusRequest, StatusView
from gateway.kafka import ensure_topics, faststream_security, kafka_connection
from gateway.ops.asyncapi import declare_outbound, specification
from gateway.ops.deadline_watch import DeadlineWatch
from gateway.ops.endpoints import build_operations
from gateway.partner_registry import load_partners
from gateway.reference.calendar_files import load_calendar
from gateway.reference.status_texts import status_texts
from gateway.reports.control import DASHBOARD, control_report
from gateway.reports.periods import Period
from gateway.services.audit_sealing import AuditSealer
from gateway.services.audited_requests import AuditedRequestHandler
from gateway.services.console import ConsoleLookups, Oversight
from gateway.services.dead_letter_log import RecordedDeadLetters
from gateway.services.deadlines import Deadlines
from gateway.services.ingestion import Backoff, DmsIngestion, Relays
from gateway.services.initial_account import ensure_initial_account
from gateway.services.partner_requests import PartnerRequests
from gateway.services.ports import StatusCodec
from gateway.services.request_rollup import RequestRoller
from gateway.services.signin import SignIn
from gateway.services.status_requests import RateLimits, StatusRequests
from gateway.settings import CONSOLE_CHANNEL, CONSOLE_PATH, Settings
from gateway.store.console import SqlAccounts, SqlDeadLetterLog, SqlOversight, SqlSignInLog
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from gateway.telemetry.tracing import TRACER_NAME, shutdown_tracing, tracer_provider
from gateway.xmlcodec.loading import load_codecs
from producers.acceptance_notices import AcceptanceNoticeOutbox
from producers.audit_witness import AuditWitnessOutbox
from producers.dead_letters import DeadLetterPublisher
from producers.kafka_producer import KafkaProducer
from producers.outbox_relay import Outbox, OutboxRelay
from producers.partner_notifications import PartnerNotificationOutbox
from producers.replies import ReplyPublisher
from producers.status_notices import StatusNoticeOutbox
from producers.topic_tail import TopicTail

log = logging.getLogger(__name__)
T = TypeVar("T")


class Background(Protocol):
    async def run_forever(self) -> None: ...


class Gateway:
    """Everything the running gateway is made of. Start it, stop it; nothing global."""

    def __init__(self, settings: Settings, *, tracing: TracerProvider | None = None) -> None:
        """`tracing`: spans go there instead of to GATEWAY_TRACING_EXPORTER (tests)."""
        self.settings = settings
        self._relay_publishes = 0
        self.readiness = Readiness()
        self.readiness.fail("startup", "starting")
        self.engine = create_engine(settings.database_url)
        self.store_ready = False  # migrated and seeded: the console and /reports may read it
        self.hasher = settings.identifier_hasher()
        # SchemasUnavailable if the XSDs cannot be loaded
        self.dms_codec, self.status_codec, self.partner_codec = load_codecs(settings)
        self.partners = load_partners(settings.partners_file, frozenset(settings.all_topics))
        self.metrics = Metrics(
            known_clients=settings.egov_clients
            | settings.callcenter_clients
            | {p.code for p in self.partners}
        )
        self.metrics.limits_are(
            lag=settings.max_ready_lag,
            dms_silence_s=settings.alert_dms_silence_s,
            reply_p95_s=settings.alert_reply_p95_s,
        )
        self.tracing = tracing or tracer_provider(settings.tracing_exporter, settings.otlp_endpoint)
        self.tracer = self.tracing.get_tracer(TRACER_NAME)
        # CalendarFileError if a calendar file is malformed: refused at start, named
        self.deadlines = Deadlines(
            settings.deadline_rules(),
            load_calendar(settings.calendar_dir),
            status_texts(),
            ZoneInfo(settings.deadline_timezone),  # "today" is the authority's date
        )
        self.deadline_watch = DeadlineWatch(
            self.engine,
            self.deadlines.calendar,
            self.deadlines.rules,
            self.readiness,
            self.metrics,
            self.today,
            settings.deadline_watch_interval_s,
        )
        self.producer = KafkaProducer(kafka_connection(settings))
        self.broker = KafkaBroker(
            settings.bootstrap_servers,
            security=faststream_security(settings),
            allow_auto_create_topics=False,  # topics are created by ensure_topics or by ops
            graceful_timeout=settings.shutdown_timeout_s * 0.6,  # in-flight handlers, then cancel
            logger=logging.getLogger("gateway.kafka"),  # our JSON lines, not FastStream's format
            apply_types=False,  # handlers take the message from their decoder: consumers/raw.py
            middlewares=(
                KafkaTelemetryMiddleware(tracer_provider=self.tracing),
                KafkaPrometheusMiddleware(registry=self.metrics.registry),
            ),
        )
        declare_outbound(self.broker, settings)  # for the AsyncAPI document: we send them
        self.notices = self._relay(
            AcceptanceNoticeOutbox(
                settings.topic_acceptance_notices, self.status_codec.encode_notice
            )
        )
        # Status-change notices share the acceptance notices' topic: both are for the portal.
        self.status_notices = self._relay(
            StatusNoticeOutbox(
                settings.topic_acceptance_notices, self.status_codec.encode_status_notice
            )
        )
        channels = settings.request_channels()  # keyed by request topic
        self.access_log = self._access_log_policy(settings, channels.values())
        # One set of limits: an operator asking on the call-center topic and in the console
        # draws on one allowance.
        self.rate_limits = RateLimits(
            per_user=RateLimiter(
                settings.rate_limit_per_user_per_minute / 60.0,
                burst=max(1, settings.rate_limit_per_user_per_minute / 6),
            ),
            per_client=RateLimiter(
                settings.rate_limit_per_client_per_second,
                burst=settings.rate_limit_per_client_per_second,
            ),
        )
        self.status_service = AuditedRequestHandler[StatusRequest, StatusView | AccessLogView](
            self._status_requests(settings, channels, self.status_codec),
            self.unit_of_work,
            utc_now,
        )
        subscribe_requests(
            self.broker,
            list(channels),
            title="status-requests",
            description="Status requests from the e-government bus and the call center.",
            group_id=settings.group("requests"),
            group_instance_id=settings.group_instance("requests"),
            session_timeout_ms=settings.kafka_session_timeout_ms,
            service=self.status_service,
            replies=ReplyPublisher(self.producer),
            publish_retry_s=settings.retry_backoff_initial_s,
            metrics=self.metrics,
            tracer=self.tracer,
        )
        self._wire_partners(settings)
        self.ingestion = DmsIngestion(
            self.dms_codec,
            RecordedDeadLetters(
                DeadLetterPublisher(self.producer, settings.topic_dead_letters),
                SqlDeadLetterLog(self.engine),
                utc_now,
            ),
            self.unit_of_work,
            self.hasher,
            utc_now,
            readiness=self.readiness,
            backoff=Backoff(settings.retry_backoff_initial_s, settings.retry_backoff_max_s),
            relays=Relays(self.notices, self.partner_notifications, self.status_notices),
            notify_partners=self.notified_partners,
            notify_status_changes=self.deadlines if settings.status_change_notices else None,
            by_partition=self.engine.dialect.name == "postgresql",
            metrics=self.metrics,
        )
        subscribe_dms_events(
            self.broker,
            settings.dms_topics,
            group_id=settings.group("dms"),
            group_instance_id=settings.group_instance("dms"),
            session_timeout_ms=settings.kafka_session_timeout_ms,
            max_records=settings.ingest_batch_max_records,
            ingestion=self.ingestion,
            tracer=self.tracer,
        )
        channel_names = {topic: channel.name for topic, channel in channels.items()}
        self.accounts = SqlAccounts(self.engine)
        self.console_app = (
            self._console_app(settings, {**channel_names, CONSOLE_CHANNEL: "console"})
            if settings.console_enabled
            else None
        )
        self.operations = build_operations(
            settings,
            self.readiness,
            self.metrics,
            self.engine,
            kafka_connection(settings),
            channel_names,
            groups={
                settings.group("dms"): settings.dms_topics,
                settings.group("requests"): tuple(channels),
            },
            asyncapi=specification(self.broker),
            mounts={CONSOLE_PATH: self.console_app} if self.console_app else None,
            store_ready=lambda: self.store_ready,
            today=self.today,
        )
        self._wire_audit_sealing(settings)
        self._background: list[asyncio.Task[None]] = []

    def _status_requests(
        self, settings: Settings, channels: Mapping[str, RequestChannel], codec: StatusCodec
    ) -> StatusRequests:
        return StatusRequests(
            channels=channels,
            codec=codec,
            numbers=settings.registration_number_pattern,
            hasher=self.hasher,
            limits=self.rate_limits,
            now=utc_now,
            monotonic=time.monotonic,
            access_log=self.access_log,
            deadlines=self.deadlines,
        )

    def _console_app(self, settings: Settings, channel_names: Mapping[str, str]) -> Starlette:
        """The console, on the same services as the Kafka entry points; mounted at /console."""
        codec = JsonLookupCodec()
        channel = settings.console_channel()
        lookups = AuditedRequestHandler[StatusRequest, StatusView | AccessLogView](
            self._status_requests(settings, {channel.request_topic: channel}, codec),
            self.unit_of_work,
            utc_now,
        )
        attempts = settings.console_signin_attempts_per_minute
        engine = self.engine

        async def report(period: Period) -> dict[str, object]:
            return await control_report(engine, period, self.today(), channel_names)

        async def dashboard(period: Period) -> dict[str, object]:
            return await control_report(engine, period, self.today(), channel_names, DASHBOARD)

        self.console_lookups = ConsoleLookups(
            lookups,
            codec,
            channel.request_topic,
            settings.console_client_id,
            lambda: uuid.uuid4().hex,
        )
        services = ConsoleServices(
            lookups=self.console_lookups,
            oversight=Oversight(
                SqlOversight(engine, self.deadlines.rules),
                channel_names,
                self.today,
            ),
            signin=SignIn(
                self.accounts,
                SqlSignInLog(engine),
                per_user=RateLimiter(attempts / 60.0, burst=attempts),
                per_client=RateLimiter(4 * attempts / 60.0, burst=4 * attempts),  # shared NATs
                now=utc_now,
                monotonic=time.monotonic,
            ),
            control_report=report,
            dashboard_report=dashboard,
            today=self.today,
        )
        return build_console(services, console_config(settings))

    def _access_log_policy(
        self, settings: Settings, channels: Iterable[RequestChannel]
    ) -> AccessLogPolicy:
        """What each request topic means in an applicant's access log."""
        by_role = {Role.EGOV: AccessChannel.PORTAL, Role.CALLCENTER: AccessChannel.CALL_CENTER}
        sources = {c.request_topic: AccessSource(by_role[c.role]) for c in channels}
        sources[CONSOLE_CHANNEL] = AccessSource(AccessChannel.CONSOLE)  # an operator's lookup
        for partner in self.partners:
            sources[partner.request_topic] = AccessSource(AccessChannel.PARTNER, partner.name)
        return AccessLogPolicy(
            sources,
            settings.access_log_officials,
            settings.access_log_include_own_lookups,
            lambda operator_id: "official-" + self.hasher(operator_id)[:8],
        )

    def _wire_audit_sealing(self, settings: Settings) -> None:
        """The sealer and the relay of its block heads to the witness topic, both background."""
        self.audit_witness = self._relay(AuditWitnessOutbox(settings.topic_audit_witness))
        self.audit_sealer = AuditSealer(
            self.relay_unit_of_work,  # untraced too: a background poll
            utc_now,
            self.audit_witness,
            block_max_rows=settings.audit_block_max_rows,
            interval_s=settings.audit_seal_interval_s,
            max_lag_s=settings.audit_max_seal_lag_s,
            readiness=self.readiness,
            metrics=self.metrics,
        )
        # follows the seal, on its interval: reports sum days of it (services/request_rollup.py)
        self.request_roller = RequestRoller(
            self.relay_unit_of_work, interval_s=settings.audit_seal_interval_s
        )

    def _relay(self, outbox: Outbox[T]) -> OutboxRelay[T]:
        """Every outbox goes out through the same relay mechanism (effectively once)."""
        return OutboxRelay(
            self.producer,
            TopicTail(kafka_connection(self.settings)),
            outbox,
            self.relay_unit_of_work,
            utc_now,
            batch=self.settings.relay_batch_max_messages,
            after_publish=self._crash_injection,
            metrics=self.metrics,
            tracer=self.tracer,
        )

    def _crash_injection(self) -> None:
        """GATEWAY_TEST_KILL_AFTER_RELAY_PUBLISHES=N (tests only): after the Nth publish of a
        relay batch, before it is marked, the process kills itself as a power cut would."""
        limit = self.settings.test_kill_after_relay_publishes
        if not limit:
            return
        self._relay_publishes += 1
        if self._relay_publishes >= limit:
            log.warning("test crash injection: SIGKILL after relay publish %d", limit)
            os.kill(os.getpid(), signal.SIGKILL)

    def _wire_partners(self, settings: Settings) -> None:
        """Partner agencies from the registry: their requests, and their notifications."""
        self.notified_partners = frozenset(
            p.code for p in self.partners if Operation.NOTIFICATIONS in p.operations
        )
        self.partner_notifications = self._relay(
            PartnerNotificationOutbox(
                {p.code: p for p in self.partners}, self.partner_codec.encode_notification
            )
        )
        if not self.partners:
            return
        subscribe_requests(
            self.broker,
            [p.request_topic for p in self.partners],
            title="partner-requests",
            description="Letter status requests and outcome reports from partner agencies.",
            group_id=settings.group("partners"),
            group_instance_id=settings.group_instance("partners"),
            session_timeout_ms=settings.kafka_session_timeout_ms,
            service=AuditedRequestHandler(
                PartnerRequests(
                    {p.request_topic: p for p in self.partners},
                    self.partner_codec,
                    settings.registration_number_pattern,
                    settings.partner_batch_max_items,
                    utc_now,
                    self.deadlines,
                ),
                self.unit_of_work,
                utc_now,
            ),
            replies=ReplyPublisher(self.producer),
            publish_retry_s=settings.retry_backoff_initial_s,
            metrics=self.metrics,
            tracer=self.tracer,
        )

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic the gateway uses: its own and its partners'."""
        partner_topics = (
            t for p in self.partners for t in (p.request_topic, p.reply_topic, p.notification_topic)
        )
        return tuple(dict.fromkeys((*self.settings.all_topics, *partner_topics)))

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.tracer)

    def today(self) -> date:
        """The authority's date: reports, the console and the deadline metrics count days where
        the law does (GATEWAY_DEADLINE_TIMEZONE), not in UTC."""
        return self.deadlines.today(utc_now())

    def relay_unit_of_work(self) -> SqlUnitOfWork:
        """Untraced: the relays poll every few seconds; their span is only for what they send."""
        return SqlUnitOfWork(self.engine)

    async def start(self, before_ready_line: Callable[[], None] = lambda: None) -> None:
        """`before_ready_line`: what must be done before anyone reads "gateway ready" and acts
        on it (the `run` command records its addresses for `ask` and `simulate-dms`)."""
        log.info("starting gateway", extra={"topic": ",".join(self.topics)})
        await self.operations.start()  # live at once; ready once everything below has started
        await self.prepare_store()
        if self.settings.create_topics:
            await ensure_topics(self.settings, self.topics)
        await self.producer.start()
        await self.broker.start()
        background: list[Background] = [
            self.notices,
            self.audit_witness,
            self.audit_sealer,
            self.request_roller,
        ]
        if self.notified_partners:  # no partner to notify: nothing to poll for
            background.append(self.partner_notifications)
        if self.settings.status_change_notices:
            background.append(self.status_notices)
        for work in background:  # relays and the audit sealer, all off the reply path
            self._background.append(asyncio.create_task(work.run_forever()))
        self._background.append(asyncio.create_task(self.deadline_watch.run_forever()))
        # The XSDs, codecs and libraries leave ~150,000 long-lived objects; every full garbage
        # collection walked them all, a ~100 ms pause that requests in flight then waited out.
        # Frozen, collections leave them alone (bench/requests.py showed the pauses).
        gc.collect()
        gc.freeze()
        self.readiness.ok("startup")
        before_ready_line()
        http = self.http_address
        log.info(
            "gateway ready: Kafka broker %s; health %s/health/ready, metrics %s/metrics "
            "(store: %s)",
            self.settings.bootstrap_servers,
            http,
            http,
            self.settings.describe()["database_url"],
        )

    async def prepare_store(self) -> None:
        """Migrations, the console's first account, the calendar rows; until this is done the
        HTTP server answers the console and /reports with 503 "starting"."""
        await upgrade_to_head(self.engine)
        if self.console_app is not None:
            await ensure_initial_account(
                self.accounts,
                production=self.settings.environment == "production",
                sign_in_at=f"http://{self.settings.http_host}:{self.settings.http_port}{CONSOLE_PATH}/",
                now=utc_now,
            )
        await self.deadline_watch.store_calendar()
        self.store_ready = True

    @property
    def http_address(self) -> str:
        """The operations HTTP server's base URL (its actual port, also when 0 was asked)."""
        return f"http://{self.settings.http_host}:{self.operations.port}"

    async def stop(self) -> None:
        self.readiness.fail("shutdown", "stopping")
        await self.operations.stop_probes()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self.broker.stop()
        await self.producer.stop()
        await self.engine.dispose()
        await self.operations.stop()
        shutdown_tracing(self.tracing)
        log.info("gateway stopped")


def console_config(settings: Settings) -> ConsoleConfig:
    secret = settings.console_session_secret
    oidc = None
    if settings.console_oidc_metadata_url:
        assert settings.console_oidc_client_id and settings.console_oidc_client_secret
        oidc = OidcConfig(
            metadata_url=settings.console_oidc_metadata_url,
            client_id=settings.console_oidc_client_id,
            client_secret=settings.console_oidc_client_secret.get_secret_value(),
            scope=settings.console_oidc_scope,
            user_claim=settings.console_oidc_user_claim,
            roles_claim=settings.console_oidc_roles_claim,
            departments_claim=settings.console_oidc_departments_claim,
            role_map=parse_role_map(settings.console_oidc_role_map),
        )
    return ConsoleConfig(
        # Development without a configured secret: a fresh one per start (settings refuse
        # this in production).
        session_secret=secret.get_secret_value() if secret else secrets.token_urlsafe(32),
        secure_cookies=settings.console_secure_cookies,
        timeouts=Timeouts(settings.console_idle_timeout_s, settings.console_absolute_timeout_s),
        oidc=oidc,
        password_sign_in=settings.console_password_sign_in,
    )


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, tracing: TracerProvider | None = None
) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings, tracing=tracing)
    try:
        await gateway.start()  # a start that fails half-way still stops what it started
        yield gateway
    finally:
        await gateway.stop()
