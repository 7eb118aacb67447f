"""Typed hub configuration: a TOML file, overridden by SCANTRAIL_HUB__SECTION__KEY variables."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.domain.facts import Policy
from hub.errors import ConfigError
from protocol.barcodes import DecodeRules
from protocol.brokers import BrokerAddress


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port.")
    username: str | None = Field(None, description="The hub's broker login.")
    password: SecretStr | None = Field(None, description="The hub's broker password.")
    password_credential: str = Field(
        "scantrail-mqtt-password",
        description="Or: the systemd credential ($CREDENTIALS_DIRECTORY/<name>) holding it.",
    )
    tls_ca: Path | None = Field(
        None, description="The site CA's certificate: set, the connection is TLS and checked."
    )
    tls_cert: Path | None = Field(None, description="A client certificate, if the broker asks.")
    tls_key: Path | None = Field(None, description="Its private key.")
    topic_prefix: str = Field("scantrail", description="First level of every topic.")
    client_id: str | None = Field(None, description="Default: scantrail-hub-<random>.")
    receive_maximum: int = Field(
        200, ge=1, le=65535, description="Unacked QoS 1 messages the broker may send at once."
    )
    failover: list[BrokerAddress] = Field(
        [],
        description='Further brokers ("host:port"), tried in order when the one in use fails '
        "or drops (protocol/brokers.py).",
    )


class IngestSettings(_Section):
    batch_max_messages: int = Field(
        100, ge=1, description="Messages per ingest transaction (the ack path) at most."
    )
    batch_wait_ms: float = Field(20.0, ge=0, description="Wait this long to fill a transaction.")
    projection_step_scans: int = Field(
        5000,
        ge=1,
        description="Scans per catch-up projection step at most; ingest runs between steps, "
        "and a waiting message ends a step early. While messages flow a step takes at most "
        "100 scans.",
    )
    checks_every_s: float = Field(
        30.0,
        gt=0,
        description="Seconds between the timed checks (gaps, readiness, overdue, clocks).",
    )
    clock_skew_alert_s: float = Field(
        5.0, gt=0, description="Alert, and correct scan times, when an agent's clock is off more."
    )
    gap_alert_min: float = Field(
        10.0, gt=0, description="Alert when an agent's seq gap stays open this many minutes."
    )


class ClusterSettings(_Section):
    """Several hubs on one PostgreSQL (docs/cluster.md)."""

    shared_group: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Subscribe through $share/<group>/ with a clean session, so several hubs "
        "split the stations' messages. PostgreSQL only.",
    )
    hub_name: str | None = Field(
        None,
        max_length=64,
        description="How this hub is named on the fleet page and in /api/v1/status; unique "
        "among the hubs. Default: <host name>:<API port>.",
    )
    leader_check_s: float = Field(
        1.0,
        gt=0,
        le=5,
        description="How often a hub tries to become the leader (the one projector, which "
        "also runs the timed checks) and the leader checks it still is.",
    )


class RecordSettings(_Section):
    second_person_release: bool = Field(
        False,
        description="Alert when a load is released by the badge that ran it, or by no badge.",
    )

    readiness_lead_min: float = Field(
        60.0,
        gt=0,
        description="Alert this long before a case's scheduled start if a tray it needs is "
        "not sterile and released.",
    )

    def policy(self) -> Policy:
        return Policy(second_person_release=self.second_person_release)


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="Address the REST API and dashboard listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the REST API and dashboard.")
    stream_poll_s: float = Field(
        0.25,
        gt=0,
        le=10,
        description="How often the live streams' one poller reads the database (SQLite; on "
        "PostgreSQL it reads when the database announces a change).",
    )
    stream_keepalive_s: float = Field(
        15.0, gt=0, description="A comment line after this long without an event."
    )
    stream_access_check_s: float = Field(
        1.0, gt=0, le=10, description="How often a live stream's token is checked again."
    )
    streams_per_token: int = Field(
        5, ge=1, description="Live streams one token or session may hold open at once."
    )
    streams_total: int = Field(50, ge=1, description="Live streams this hub holds open at once.")
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="How long a browser stays signed in."
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=32,
        description="A bearer token Prometheus presents to read /metrics, and only that.",
    )
    tls_cert: Path | None = Field(
        None,
        description="The hub's certificate (`ca init` issues it from the site CA): set with "
        "tls_key, the hub serves HTTPS only and its cookies are Secure.",
    )
    tls_key: Path | None = Field(None, description="Its private key.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> ApiSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("api.tls_cert and api.tls_key go together: set both or neither")
        return self


class SiteSettings(_Section):
    """How pages speak to the department (hub/web/wording.py)."""

    timezone: str | None = Field(
        None,
        description="IANA time zone pages show times in, e.g. Europe/Madrid. Default: the "
        "host's (/etc/localtime). The API always speaks UTC.",
    )
    instructions: dict[str, str] = Field(
        {},
        description="The department's own next step per alert kind (e.g. bi_failed = "
        '"Call the SPD lead on 4411, then…"), shown with each alert in place of the default.',
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (an IANA name)") from None
        return value


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCANTRAIL_HUB__", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = Field(
        "sqlite:///var/hub.db", description="SQLAlchemy URL: sqlite:///FILE or postgresql://…"
    )
    mqtt: MqttSettings = MqttSettings()
    cluster: ClusterSettings = ClusterSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    records: RecordSettings = RecordSettings()
    site: SiteSettings = SiteSettings()
    decode: DecodeRules = Field(
        DecodeRules(),
        description="Barcode rules, the same [decode] section as the site's agents use.",
    )

    @model_validator(mode="after")
    def _shared_needs_postgresql(self) -> HubSettings:
        if self.cluster.shared_group and not self.database_url.startswith("postgresql"):
            raise ValueError(
                "cluster.shared_group needs PostgreSQL: several hubs share one database, and "
                "SQLite is one hub's own file. Remove shared_group, or set database_url to "
                "postgresql://…"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: Path) -> HubSettings:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")

    class _FromFile(HubSettings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return _FromFile()
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{path}: invalid configuration\n{problems}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
