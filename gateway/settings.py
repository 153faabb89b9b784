"""One settings object, read from environment variables prefixed GATEWAY_.

Secrets are SecretStr so they never show in logs, reprs or tracebacks.
"""

from __future__ import annotations

import re
import ssl
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.domain.access import RequestChannel, Role
from gateway.domain.access_log import OfficialIds
from gateway.domain.deadlines import DeadlineRules
from gateway.domain.identity import IdentifierHasher
from gateway.domain.registration import DEFAULT_PATTERN

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


DEVELOPMENT_HASH_KEY = "development-only-key-change-me"
CONSOLE_CHANNEL = "console"  # the request_topic of console lookups in the audit
CONSOLE_PATH = "/console"  # where the console is mounted on the gateway's HTTP app


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start with the development identifier hash key",
    )

    # --- Kafka connection -------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Comma-separated brokers; unset = start/use the local development broker",
    )
    local_kafka_port: int = Field(
        default=19092, description="Port of the local broker (and port + 1 for its controller)"
    )
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    consumer_group: str = "appeals-status-gateway"
    kafka_group_instance_id: str | None = Field(
        default=None,
        description="Static group membership: a stable id per replica (e.g. its pod name); "
        "a replica restarted after a crash gets its partitions back at once. Unset = dynamic",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="How long the group waits for a silent member before moving its partitions",
    )

    # --- topics -------------------------------------------------------------------------
    topic_dms_registrations: str = "dms.letters.registrations.v1"
    topic_dms_status: str = "dms.letters.status.v1"
    topic_egov_requests: str = "egov.status.requests.v1"
    topic_egov_replies: str = "egov.status.replies.v1"
    topic_callcenter_requests: str = "callcenter.status.requests.v1"
    topic_callcenter_replies: str = "callcenter.status.replies.v1"
    topic_acceptance_notices: str = "egov.acceptance.notices.v1"
    topic_dead_letters: str = "gateway.dead-letters.v1"
    topic_audit_witness: str = Field(
        default="gateway.audit.witness.v1",
        description="Witness copy of the sealed audit log's block heads (one partition)",
    )
    egov_extra_reply_topics: str = Field(
        default="", description="Comma-separated reply topics allowed besides topic_egov_replies"
    )
    callcenter_extra_reply_topics: str = ""
    create_topics: bool = Field(
        default=True, description="Create missing topics at start (off where ACLs forbid it)"
    )
    topic_partitions: int = 6
    topic_replication_factor: int = 1

    # --- requesters ---------------------------------------------------------------------
    egov_client_ids: str = Field(
        default="AZ/GOV/egov-portal,AZ/GOV/customs-website",
        description="Comma-separated client ids allowed on the e-gov topic",
    )
    callcenter_client_ids: str = "AZ/DGK/call-center"
    egov_auth_levels: str = Field(
        default="enhanced-signature",
        description="Comma-separated authLevel values accepted from the e-gov portal's end "
        "users (regulation 3.1: enhanced electronic signature); others: AUTH_LEVEL_NOT_ACCEPTED",
    )
    registration_number_pattern: re.Pattern[str] = Field(
        default=DEFAULT_PATTERN,
        description="Format of a registration number after trimming and upper-casing; "
        "for DMS events and requests alike",
    )
    rate_limit_per_user_per_minute: int = 30
    rate_limit_per_client_per_second: int = 500
    status_change_notices: bool = Field(
        default=True,
        description="Push status-change notices to the portal's notice topic (electronic letters)",
    )
    access_log_officials: OfficialIds = Field(
        default=OfficialIds.MASKED,
        description="How an applicant's access log names officials: full operator id or masked",
    )
    access_log_include_own_lookups: bool = Field(
        default=False,
        description="Whether an applicant's access log lists their own portal lookups",
    )
    partners_file: Path | None = Field(
        default=None,
        description="TOML registry of partner agencies (see deploy/partners.example.toml)",
    )
    partner_batch_max_items: int = Field(
        default=50, description="Most letters a partner may ask about in one batch request"
    )

    # --- store --------------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'gateway.db'}",
        description="SQLAlchemy async URL; SQLite file by default, PostgreSQL in production",
        repr=False,  # may hold a password; describe() shows it masked
    )
    identifier_hash_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_HASH_KEY),
        description="HMAC-SHA256 key for applicant/end-user identifiers",
    )

    # --- limits and tuning --------------------------------------------------------------
    xml_max_bytes: int = 64 * 1024
    xml_max_depth: int = 32
    ingest_batch_max_records: int = 2000
    relay_batch_max_messages: int = Field(
        default=200, gt=0, description="Most outbox messages (notices) published per batch"
    )
    retry_backoff_initial_s: float = 0.2
    retry_backoff_max_s: float = 10.0
    reply_timeout_s: float = 10.0

    # --- sealed audit log ----------------------------------------------------------------
    audit_seal_interval_s: float = Field(
        default=2.0, gt=0, description="Seconds between sealing rounds of the audit log"
    )
    audit_block_max_rows: int = Field(
        default=1000, ge=1, description="Most audit rows sealed into one block"
    )
    audit_max_seal_lag_s: float = Field(
        default=300.0,
        gt=0,
        description="Not ready while the oldest unsealed audit row is older than this",
    )
    audit_witness_retention_ms: int = Field(
        default=-1,
        ge=-1,
        description="retention.ms of the witness topic when the gateway creates it (-1: forever)",
    )

    # --- operations ---------------------------------------------------------------------
    http_host: str = Field(
        default="127.0.0.1",
        description="Address of the health/metrics/reports HTTP server (0.0.0.0 in containers)",
    )
    http_port: int = Field(
        default=8080, ge=0, le=65535, description="Port of that server; 0 = an ephemeral port"
    )
    probe_interval_s: float = Field(
        default=5.0, gt=0, description="Seconds between readiness probes (broker, database, lag)"
    )
    probe_timeout_s: float = Field(
        default=3.0, gt=0, description="A probe not answered within this is a failed probe"
    )
    max_ready_lag: int = Field(
        default=10_000,
        ge=0,
        description="Not ready while the consumer group's total lag is above this many records",
    )
    shutdown_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="On SIGTERM: finish in-flight work and exit within this many seconds",
    )
    alert_dms_silence_s: float = Field(
        default=3600.0,
        gt=0,
        description="Alert (deploy/monitoring) when the newest DMS event is older than this",
    )
    alert_reply_p95_s: float = Field(
        default=1.0,
        gt=0,
        description="Alert (deploy/monitoring) when the 95th percentile reply time is above this",
    )
    tracing_exporter: Literal["off", "otlp", "console"] = Field(
        default="off",
        description="OpenTelemetry spans: off, otlp (a collector; the otlp extra) or console",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces; unset = the "
        "exporter's default (OTEL_EXPORTER_OTLP_* variables, else localhost:4318)",
    )
    test_kill_after_relay_publishes: int = Field(
        default=0,
        ge=0,
        description="Tests only: SIGKILL the process after its Nth relay publish, before marking",
    )
    schemas_dir: Path | None = Field(
        default=None,
        description="Directory holding the XSDs (dms/, egov/); unset = the source tree's schemas/",
    )

    # --- operator console (issue 15) ------------------------------------------------------
    console_enabled: bool = Field(default=True, description="Serve the web console at /console")
    console_session_secret: SecretStr | None = Field(
        default=None,
        description="Key signing session cookies (32+ characters; required in production; "
        "unset in development = a random key per start, so restarts sign everyone out)",
    )
    console_secure_cookies: bool = Field(
        default=False, description="Session cookie only over HTTPS (required in production)"
    )
    console_idle_timeout_s: float = Field(
        default=900, gt=0, description="A console session unused this long ends"
    )
    console_absolute_timeout_s: float = Field(
        default=8 * 3600, gt=0, description="A console session ends this long after sign-in"
    )
    console_signin_attempts_per_minute: int = Field(
        default=5, ge=1, description="Sign-in attempts allowed per username and per address"
    )
    console_client_id: str = Field(
        default="AZ/DGK/operator-console",
        description="Client id under which console lookups are audited (channel `console`)",
    )
    console_password_sign_in: bool = Field(
        default=True, description="Allow sign-in with local accounts (off: only OIDC)"
    )
    console_oidc_metadata_url: str | None = Field(
        default=None,
        description="OpenID Connect discovery URL of the identity provider; unset = no OIDC",
    )
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: SecretStr | None = None
    console_oidc_scope: str = "openid profile"
    console_oidc_user_claim: str = Field(
        default="preferred_username", description="Claim naming the user (falls back to sub)"
    )
    console_oidc_roles_claim: str = Field(
        default="roles", description="Claim listing the user's roles at the provider"
    )
    console_oidc_departments_claim: str = Field(
        default="departments", description="Claim listing the departments a head is head of"
    )
    console_oidc_role_map: str = Field(
        default="",
        description="provider-role=console-role pairs, comma-separated "
        "(console roles: operator, department-head, controller, auditor)",
    )

    # --- legal deadlines (Law "On citizens' appeals": art. 10.1, 10.2, 7.10) ------------
    calendar_dir: Path | None = Field(
        default=None,
        description="Directory of working-day calendar files, one <year>.toml per year; "
        "unset = the files shipped in the package (Azerbaijan)",
    )
    deadline_general_working_days: int = Field(
        default=15, ge=1, description="Answer term of a letter (art. 10.1)"
    )
    deadline_additional_study_working_days: int = Field(
        default=30, ge=1, description="Answer term of a letter needing additional study (art. 10.1)"
    )
    deadline_max_extension_working_days: int = Field(
        default=30, ge=1, description="Most working days one extension may add (art. 10.2)"
    )
    deadline_forwarding_working_days: int = Field(
        default=3,
        ge=1,
        description="Term for forwarding a letter to the competent body (art. 7.10)",
    )
    deadline_due_soon_working_days: int = Field(
        default=3,
        ge=0,
        description="An open letter with at most this many working days left is due soon",
    )
    deadline_timezone: str = Field(
        default="Asia/Baku", description="Time zone whose date is 'today' for deadlines"
    )
    deadline_watch_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between recounts of overdue and due-soon letters"
    )

    @field_validator("deadline_timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.kafka_security_protocol is SecurityProtocol.SASL_SSL and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError("SASL_SSL needs GATEWAY_KAFKA_SASL_USERNAME and _PASSWORD")
        key = self.identifier_hash_key.get_secret_value()
        if self.environment == "production" and (key == DEVELOPMENT_HASH_KEY or len(key) < 32):
            raise ValueError("production needs GATEWAY_IDENTIFIER_HASH_KEY of 32+ characters")
        if self.environment == "production" and self.console_enabled:
            secret = self.console_session_secret
            if secret is None or len(secret.get_secret_value()) < 32:
                raise ValueError(
                    "production needs GATEWAY_CONSOLE_SESSION_SECRET of 32+ characters"
                )
            if not self.console_secure_cookies:
                raise ValueError("production needs GATEWAY_CONSOLE_SECURE_COOKIES=true (TLS)")
        if self.console_oidc_metadata_url and not (
            self.console_oidc_client_id and self.console_oidc_client_secret
        ):
            raise ValueError("OIDC needs GATEWAY_CONSOLE_OIDC_CLIENT_ID and _CLIENT_SECRET")
        return self

    @property
    def uses_local_kafka(self) -> bool:
        return not self.kafka_bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.local_kafka_port}"

    def group(self, role: str) -> str:
        """Each kind of consumer has its own group: a rebalance in one (a replica's DMS
        consumer joining, say) never pauses the others."""
        return f"{self.consumer_group}.{role}"

    def group_instance(self, role: str) -> str | None:
        """This replica's static member id in the group of `role`, if one is configured."""
        return f"{self.kafka_group_instance_id}.{role}" if self.kafka_group_instance_id else None

    @property
    def dms_topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.topic_dms_registrations, self.topic_dms_status)))

    @property
    def all_topics(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(
                (
                    *self.dms_topics,
                    self.topic_egov_requests,
                    self.topic_callcenter_requests,
                    *self.egov_reply_topics,
                    *self.callcenter_reply_topics,
                    self.topic_acceptance_notices,
                    self.topic_dead_letters,
                    self.topic_audit_witness,
                )
            )
        )

    @property
    def egov_reply_topics(self) -> frozenset[str]:
        return frozenset({self.topic_egov_replies, *_split(self.egov_extra_reply_topics)})

    @property
    def callcenter_reply_topics(self) -> frozenset[str]:
        return frozenset(
            {self.topic_callcenter_replies, *_split(self.callcenter_extra_reply_topics)}
        )

    @cached_property
    def egov_clients(self) -> frozenset[str]:
        return _split(self.egov_client_ids)

    @cached_property
    def callcenter_clients(self) -> frozenset[str]:
        return _split(self.callcenter_client_ids)

    def request_channels(self) -> dict[str, RequestChannel]:
        """The status-request channels, keyed by request topic."""
        channels = (
            RequestChannel(
                "egov",
                Role.EGOV,
                self.topic_egov_requests,
                self.egov_reply_topics,
                self.egov_clients,
                _split(self.egov_auth_levels),
            ),
            RequestChannel(
                "callcenter",
                Role.CALLCENTER,
                self.topic_callcenter_requests,
                self.callcenter_reply_topics,
                self.callcenter_clients,
            ),
        )
        return {channel.request_topic: channel for channel in channels}

    def console_channel(self) -> RequestChannel:
        """Console lookups: the call center's rules, on their own channel (its topic name is
        only a label in the audit; nothing is published)."""
        return RequestChannel(
            "console",
            Role.CALLCENTER,
            CONSOLE_CHANNEL,
            frozenset({CONSOLE_CHANNEL}),
            frozenset({self.console_client_id}),
        )

    def identifier_hasher(self) -> IdentifierHasher:
        """The one way personal ids become stored hashes: the service and every command."""
        return IdentifierHasher(self.identifier_hash_key.get_secret_value().encode())

    def deadline_rules(self) -> DeadlineRules:
        return DeadlineRules(
            general=self.deadline_general_working_days,
            additional_study=self.deadline_additional_study_working_days,
            max_extension=self.deadline_max_extension_working_days,
            forwarding=self.deadline_forwarding_working_days,
            due_soon=self.deadline_due_soon_working_days,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.kafka_security_protocol is SecurityProtocol.PLAINTEXT:
            return None
        context = ssl.create_default_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
        )
        if self.kafka_ssl_certfile:
            password = self.kafka_ssl_key_password
            context.load_cert_chain(
                str(self.kafka_ssl_certfile),
                str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
                password.get_secret_value() if password else None,
            )
        return context

    def describe(self) -> dict[str, object]:
        """Safe-to-log view: secrets masked, database password stripped from the URL."""
        from sqlalchemy.engine import make_url

        shown = self.model_dump(mode="json")
        shown["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        shown["bootstrap_servers"] = self.bootstrap_servers
        return shown


def _split(csv: str) -> frozenset[str]:
    return frozenset(part.strip() for part in csv.split(",") if part.strip())
