"""Typed agent configuration: a TOML file, overridden by SCANTRAIL_AGENT__SECTION__KEY variables.

Loaded once in ``main()`` and passed down; never built at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.errors import ConfigError
from protocol import hub_url
from protocol.barcodes import DecodeRules
from protocol.brokers import BrokerAddress
from protocol.messages import AGENT_ID_PATTERN
from protocol.sterilizer import Phase

StationMode = Literal[
    "sterilizer", "tray_assembly", "point_of_use", "asset_move", "equipment_checkout"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port.")
    username: str | None = Field(None, description="Broker login; the ACL ties it to agent_id.")
    password: SecretStr | None = Field(None, description="Broker password.")
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
    keepalive_s: int = Field(
        15, ge=5, le=600, description="MQTT keepalive; the will fires after ~1.5x."
    )
    reconnect_min_s: float = Field(1.0, gt=0, description="Shortest reconnect delay (jittered).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay (jittered).")
    failover: list[BrokerAddress] = Field(
        [],
        description='Further brokers ("host:port"), tried in order when the one in use fails '
        "or drops (protocol/brokers.py).",
    )


class StationSettings(_Section):
    name: str = Field("station", max_length=128, description="Shown on scans and the dashboard.")
    mode: StationMode = Field("tray_assembly", description="The station's session state machine.")
    badge_required: bool = Field(False, description="Refuse scans until a staff badge is scanned.")
    idle_logout_s: float = Field(
        900.0, ge=0, description="Log the operator out after this long without a scan; 0: never."
    )
    allow_mode_change: bool = Field(False, description="Accept CMD-MODE-* barcodes.")
    clock: Literal["ntp", "host"] = Field(
        "ntp",
        description="ntp: scans are marked synced when the kernel or systemd-timesyncd says "
        "the clock is synchronised. host: the clock is the hub's own host clock (an agent "
        "beside the hub, as in the demo), always synced.",
    )


class GpioSettings(_Section):
    """Pins (BCM numbers) of an optional buzzer and LEDs; gpiozero is loaded only if set."""

    buzzer_pin: int = Field(17, ge=0, le=40, description="Buzzer, active high.")
    green_led_pin: int = Field(27, ge=0, le=40, description="Lit when a scan is kept.")
    red_led_pin: int = Field(22, ge=0, le=40, description="Lit when a scan is refused.")
    beep_s: float = Field(0.08, gt=0, le=1, description="Length of one beep.")


class OutboxSettings(_Section):
    max_bytes: int = Field(
        512 * 1024 * 1024, ge=64 * 1024, description="Disk budget; when full new scans are refused."
    )
    retention_days: float = Field(
        7.0, ge=0, description="Confirmed scans are pruned after this long (kept for replays)."
    )


class DeliverySettings(_Section):
    batch_size: int = Field(100, ge=1, le=500, description="Events per MQTT message at most.")
    window: int = Field(8, ge=1, le=100, description="Batches awaiting a broker PUBACK at most.")
    drain_rate: float = Field(5000.0, gt=0, description="Events per second at most while draining.")
    hub_window: int = Field(
        2000,
        ge=1,
        description="Events sent but not yet confirmed by the hub, at most: a backlog waits "
        "in the outbox, not in the broker, when the hub is slower than the agents.",
    )
    resend_after_s: float = Field(
        10.0, gt=0, description="Resend unconfirmed scans after this long."
    )
    resend_max_s: float = Field(300.0, gt=0, description="Cap of the doubling resend backoff.")
    health_interval_s: float = Field(10.0, gt=0, description="Seconds between health heartbeats.")


class ReferenceSettings(_Section):
    """Where the station pulls the hub's reference snapshot (docs/reference.md)."""

    url: str | None = Field(
        None,
        description="The hub's API base, e.g. https://hub:8443; unset: no snapshot. Plain "
        "http only to loopback, unless allow_insecure_http.",
    )
    tls_ca: Path | None = Field(
        None, description="The site CA's certificate: the hub's is checked against it."
    )
    allow_insecure_http: bool = Field(
        False, description="Let a plain http:// URL off this machine carry the token (no)."
    )
    token: SecretStr | None = Field(None, description="An API token with the role agent.")
    token_credential: str = Field(
        "scantrail-hub-token",
        description="Or: the systemd credential ($CREDENTIALS_DIRECTORY/<name>) holding it.",
    )
    interval_s: float = Field(60.0, gt=0, description="Seconds between polls (304 if unchanged).")
    stale_after_s: float = Field(
        3600.0, gt=0, description="Past this age the station says its snapshot is stale."
    )
    timeout_s: float = Field(5.0, gt=0, description="One request's time limit.")

    @model_validator(mode="after")
    def _no_token_in_clear(self) -> ReferenceSettings:
        if self.url is not None:
            why = hub_url.problem(self.url, self.allow_insecure_http)
            if why is not None:
                raise ValueError(why)
        return self


class SerialScanner(_Section):
    type: Literal["serial"] = "serial"
    id: str = Field(max_length=128, description="Scanner id recorded with each scan.")
    path: Path = Field(description="Device; prefer /dev/serial/by-id/... so it survives replug.")
    baud: int = Field(9600, gt=0, description="Line speed (ignored by CDC-ACM scanners).")
    suffix: Literal["cr", "lf", "crlf", "tab", "timeout"] = Field(
        "cr", description="What ends a read; 'timeout' means a pause of idle_timeout_s."
    )
    idle_timeout_s: float = Field(0.1, gt=0, description="Pause that ends a read in timeout mode.")


class EvdevScanner(_Section):
    type: Literal["evdev"] = "evdev"
    id: str = Field(max_length=128, description="Scanner id recorded with each scan.")
    path: Path = Field(description="Device; prefer /dev/input/by-id/...-event-kbd.")
    layout: Literal["us", "uk", "de", "fr"] = Field(
        "us", description="The scanner's keyboard layout."
    )
    terminator: Literal["enter", "tab", "timeout"] = Field("enter", description="What ends a read.")
    idle_timeout_s: float = Field(0.1, gt=0, description="Pause that ends a read in timeout mode.")
    grab: bool = Field(
        True, description="Take the device exclusively so keys never reach a console."
    )


ScannerSettings = Annotated[SerialScanner | EvdevScanner, Field(discriminator="type")]


class SterilizerPort(_Section):
    """The sterilizer's printer or data-recorder port (docs/sterilizers.md)."""

    code: str = Field(max_length=128, description="The sterilizer's label as printed, e.g. STE-01.")
    path: Path = Field(description="Device; prefer /dev/serial/by-id/... so it survives a replug.")
    id: str = Field("sterilizer", max_length=128, description="Source id kept with each line.")
    baud: int = Field(38400, gt=0, description="Line speed, as the sterilizer is set.")
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits.")
    parity: Literal["N", "E", "O", "M", "S"] = Field("N", description="Parity: N, E, O, M, S.")
    stopbits: float = Field(1, description="Stop bits: 1, 1.5 or 2.")
    encoding: str = Field("latin-1", description="How its bytes become text.")
    format: Literal["regex", "amsco-ls"] = Field(
        "regex",
        description="amsco-ls: STERIS Amsco LS series as documented; regex: pattern and "
        "phases below.",
    )
    pattern: str | None = Field(
        None, description="regex: named groups phase, elapsed, cycle, load, chamber, ..."
    )
    phases: dict[str, Phase] = Field(
        {}, description="regex: what the sterilizer prints for each phase."
    )
    temperature: Literal["C", "F"] = Field("C", description="Its temperature unit.")
    pressure: Literal["kPa", "psia", "bar", "mbar", "inHg"] = Field(
        "kPa", description="Its pressure unit."
    )
    commit_every_s: float = Field(
        1.0,
        gt=0,
        le=10,
        description="Lines read are kept together at most this long after the first: one "
        "commit for them all.",
    )
    end_quiet_s: float = Field(
        60.0,
        gt=0,
        description="amsco-ls: silence after exhaust that ends a cycle (it prints no end).",
    )

    @model_validator(mode="after")
    def _pattern_for_regex(self) -> SterilizerPort:
        if self.stopbits not in (1, 1.5, 2):
            raise ValueError("stopbits is 1, 1.5 or 2")
        if self.format == "regex" and (not self.pattern or not self.phases):
            raise ValueError("format regex needs a pattern and its phases")
        return self


class FaultSettings(_Section):
    """Fault injection for the fault matrix (chaos/). Never set in production."""

    clock_error_file: Path | None = Field(
        None,
        description="A file holding seconds to add to the wall clock, read again at most "
        "once a second: a Pi booted a day wrong, or a clock stepped mid-shift.",
    )
    ntp_synced: bool | None = Field(
        None,
        description="Say the clock is NTP-synced (or not) whatever this machine's kernel "
        "says: a test machine's own NTP state is not the one of the Pi it plays.",
    )


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCANTRAIL_AGENT__", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    agent_id: str = Field(
        pattern=AGENT_ID_PATTERN, description="This Pi's identity and MQTT login."
    )
    data_dir: Path = Field(
        Path("/var/lib/scantrail-agent"), description="Outbox and socket live here."
    )
    control_socket: Path | None = Field(
        None, description="Unix socket for `scan` and `status`; default data_dir/agent.sock."
    )
    mqtt: MqttSettings = MqttSettings()
    station: StationSettings = StationSettings()
    outbox: OutboxSettings = OutboxSettings()
    delivery: DeliverySettings = DeliverySettings()
    reference: ReferenceSettings = ReferenceSettings()
    scanners: list[ScannerSettings] = Field(
        default_factory=list, description="Serial and evdev scanners; the socket is always on."
    )
    sterilizer: SterilizerPort | None = Field(
        None, description="The sterilizer's serial record, at a sterilizer station."
    )
    gpio: GpioSettings | None = Field(None, description="Buzzer and LEDs; omit when none.")
    reopen_max_s: float = Field(5.0, gt=0, description="Longest wait between device reopen tries.")
    decode: DecodeRules = Field(
        DecodeRules(), description="Barcode rules: GS substitute, site prefixes."
    )
    faults: FaultSettings = FaultSettings()

    @property
    def socket_path(self) -> Path:
        return self.control_socket or self.data_dir / "agent.sock"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.db"

    @property
    def reference_path(self) -> Path:
        return self.data_dir / "reference.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, so one key can be changed without editing it.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: Path) -> AgentSettings:
    """Read ``path`` plus environment overrides, or raise ``ConfigError`` saying what is wrong."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")

    class _FromFile(AgentSettings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return _FromFile()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: {exc}") from None


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid configuration"]
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
