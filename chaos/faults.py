"""The faults, each injected for real while the station scans, and healed before the
function returns. A fault that cannot be brought about fails loudly (a crash point never
reached, a command refused): a row that injected nothing must not read as a pass."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from chaos.oracle import station_kept
from chaos.site import KEEPALIVE_S, Site
from protocol import codec
from protocol.messages import EventBatch, ScanEvent
from tests.harness import mqtt_client
from tests.harness.keyboard import Keyboard
from tests.harness.waiting import wait_for


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # processes, network, storage, clocks, scanners, input
    inject: Callable[[Site, random.Random], None]
    rounds: int  # under `make chaos` (tests/integration/test_chaos.py runs a few)
    network: bool = False  # the station needs a namespace of its own
    disk: str | None = None  # "agent" or "hub": its data on a small disk that can fill
    # The station reads a serial scanner on a pseudo-terminal too, or an evdev one through
    # a FIFO of input_event records (tests/harness/event_pipe.py).
    scanner: Literal["serial", "evdev"] | None = None
    # Whose clock the fault steps; the oracle also checks the scan times by the other's
    # (oracle.py ``timed_wrong``).
    clock: Literal["station", "hub"] | None = None
    tls: bool = False  # the station reaches the broker over TLS
    databases: tuple[str, ...] = ("sqlite", "postgresql")


def agent_kill(site: Site, rng: random.Random) -> None:
    time.sleep(rng.uniform(0.05, 0.6))
    site.agent.kill()
    site.pause()
    site.agent.start()


def agent_frozen(site: Site, rng: random.Random) -> None:
    """SIGSTOP past the broker's keepalive (it drops the station), then SIGCONT."""
    time.sleep(rng.uniform(0.05, 0.5))
    site.freeze_agent(True)
    time.sleep(KEEPALIVE_S * 2 + rng.uniform(0, 1))
    site.freeze_agent(False)


def _hub_crash(point: str) -> Callable[[Site, random.Random], None]:
    def inject(site: Site, rng: random.Random) -> None:
        """kill -9 the hub at a random moment, start one that kills itself at ``point``
        after a few batches or steps, then a sound one."""
        time.sleep(rng.uniform(0.05, 0.5))
        site.hub.kill()
        crashing = site.replace_hub(crash_at=point, after=rng.randint(1, 4))
        code = crashing.wait_exit(timeout=120)
        if code != -9:
            raise RuntimeError(f"the hub did not crash at {point} (exit {code})")
        site.replace_hub()

    return inject


def broker_restart(site: Site, rng: random.Random) -> None:
    time.sleep(rng.uniform(0.05, 0.5))
    site.broker.stop()
    time.sleep(rng.uniform(0.2, 2))
    site.broker.start()


def broker_store_lost(site: Site, rng: random.Random) -> None:
    """kill -9 and an empty store: whatever it PUBACKed and had not passed on is gone."""
    time.sleep(rng.uniform(0.05, 0.5))
    site.broker.kill()
    site.broker.wipe_store()
    site.broker.start()


def database_restart(site: Site, rng: random.Random) -> None:
    """PostgreSQL stopped at once (``-m immediate``, as a crash) mid-drain, and back."""
    assert site.postgres is not None
    time.sleep(rng.uniform(0.05, 0.5))
    site.postgres.stop()
    time.sleep(rng.uniform(0.5, 3))
    site.postgres.start_again()


def link_down(site: Site, rng: random.Random) -> None:
    assert site.link is not None
    time.sleep(rng.uniform(0.05, 0.5))
    site.link.down()
    time.sleep(rng.uniform(1, 5))
    site.link.up()


def blackhole(site: Site, rng: random.Random) -> None:
    assert site.link is not None
    time.sleep(rng.uniform(0.05, 0.5))
    site.link.blackhole()
    time.sleep(KEEPALIVE_S * 2 + rng.uniform(0, 3))
    site.link.clear()


def flapping(site: Site, rng: random.Random) -> None:
    """Down and up every 1–5 s, five times."""
    assert site.link is not None
    for _ in range(5):
        site.link.down()
        time.sleep(rng.uniform(1, 5))
        site.link.up()
        time.sleep(rng.uniform(1, 5))


def squeezed(site: Site, rng: random.Random) -> None:
    assert site.link is not None
    site.link.squeeze("64kbit")
    time.sleep(rng.uniform(5, 10))
    site.link.clear()


def long_partition(site: Site, rng: random.Random) -> None:
    """The backlog of 30 minutes at a scan a second (1,800 scans) kept while the link is
    down, then drained."""
    assert site.link is not None
    site.pause()
    site.link.down()
    site.scan_many(1800)
    site.link.up()


def agent_disk_full(site: Site, rng: random.Random) -> None:
    """The station's disk fills: it refuses new scans, saying so, and keeps the ones it
    had; once space returns it keeps scans again."""
    assert site.disk is not None
    time.sleep(rng.uniform(0.2, 1))
    site.disk.fill()
    wait_for(lambda: _store_full(site, True), timeout=120, interval=0.2)
    time.sleep(rng.uniform(0.5, 3))
    site.disk.free()
    wait_for(lambda: _store_full(site, False), timeout=120, interval=0.2)


def _store_full(site: Site, full: bool) -> None:
    if not full:
        site.scan_many(1)  # the station finds out space came back when it next keeps one
    status = site.agent.status()
    assert status["store_full"] is full, status


def hub_disk_full(site: Site, rng: random.Random) -> None:
    """The hub's SQLite file's disk fills for 1–5 s: nothing is acked meanwhile, and
    intake resumes once there is space."""
    assert site.disk is not None
    time.sleep(rng.uniform(0.2, 1))
    site.disk.fill()
    time.sleep(rng.uniform(1, 5))
    site.disk.free()


def restored_copy(site: Site, rng: random.Random) -> None:
    """The station's outbox restored from a copy of its file and WAL taken while it kept
    scans (a backup restored, a card image rolled back): kill -9, the copy put back, start.
    What the station had kept by the kill still counts as confirmed; what it kept after
    the copy and had not sent by the kill is gone with the storage (counted apart)."""
    data = site.agent.workdir / "data"
    files = ("outbox.db", "outbox.db-wal")
    time.sleep(rng.uniform(0.3, 1))
    copy = {name: (data / name).read_bytes() for name in files if (data / name).exists()}
    time.sleep(rng.uniform(0.3, 1))
    site.agent.kill()
    site.pause()
    site.remember_kept()
    for name in (*files, "outbox.db-shm"):
        (data / name).unlink(missing_ok=True)
    for name, content in copy.items():
        (data / name).write_bytes(content)
    site.storage_lost |= set(site.kept_before) - set(station_kept(site.outbox))
    site.agent.start()


def corrupt_page(site: Site, rng: random.Random) -> None:
    """kill -9, then one page in the middle of the outbox's file overwritten with noise (a
    failing SD card), then start. What the station had kept still counts as confirmed; the
    rows on that page that the hub did not have are gone with it, and the station must say
    how many it could not read."""
    time.sleep(rng.uniform(0.5, 1.5))
    site.agent.kill()
    site.pause()
    site.remember_kept()
    path = site.outbox
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as outbox:
        outbox.seek(4096 * rng.randint(1, max(1, pages - 1)))
        outbox.write(rng.randbytes(4096))
    site.agent.start()
    recovered = site.agent.status()["recovered"]
    if recovered is not None:
        site.storage_lost |= set(site.kept_before) - set(station_kept(site.outbox))
        site.storage_lost_named = (site.storage_lost_named or 0) + recovered["unreadable"]


def clock_a_day_wrong_at_boot(site: Site, rng: random.Random) -> None:
    """The station boots with its clock a day ahead (a Pi has no RTC), scans for a few
    seconds, then NTP steps the clock back to the right time while it scans on."""
    time.sleep(rng.uniform(0.1, 0.5))
    site.agent.kill()
    site.pause()
    site.clock_error(86_400)
    site.agent.start()
    site.scan()
    time.sleep(rng.uniform(2, 5))
    site.clock_error(0)
    time.sleep(rng.uniform(2, 5))


def clock_back_an_hour(site: Site, rng: random.Random) -> None:
    """Mid-shift the station's clock steps back an hour, and later forward again."""
    time.sleep(rng.uniform(0.5, 2))
    site.clock_error(-3_600)
    time.sleep(rng.uniform(3, 6))
    site.clock_error(0)
    time.sleep(rng.uniform(1, 3))


def hub_clock_ahead_an_hour(site: Site, rng: random.Random) -> None:
    """Mid-shift the hub's clock steps an hour ahead (a wrong time server, a person), and
    later NTP steps it back, while the station, synced, scans on."""
    time.sleep(rng.uniform(0.5, 2))
    site.hub_clock_error(3_600)
    time.sleep(rng.uniform(3, 6))
    site.hub_clock_error(0)
    time.sleep(rng.uniform(1, 3))


def certificate_not_yet_valid(site: Site, rng: random.Random) -> None:
    """The broker restarts with a certificate valid only from tomorrow (issued by a clock a
    day ahead; to a station whose clock is a day behind, every certificate looks so): the
    station cannot connect, says why, and keeps scanning. Then the certificate is issued
    again, valid from now, and the station sends what it kept."""
    time.sleep(rng.uniform(0.05, 0.5))
    site.broker_certificate(datetime.now(UTC) + timedelta(days=1))
    wait_for(lambda: _alarmed(site, "broker_certificate_not_yet_valid"), timeout=120)
    time.sleep(rng.uniform(1, 3))
    site.broker_certificate(datetime.now(UTC))


def _alarmed(site: Site, alarm: str) -> None:
    status = site.agent.status()
    assert alarm in status["alarms"], status


def serial_scanner(site: Site, rng: random.Random) -> None:
    """While the operator scans at the station, its serial scanner reads lines of noise
    between codes, then a code cut off by pulling the cable, then the cable back. Each
    good code is kept whole, the cut one is not kept at all, and the scanner reads again."""
    assert site.port is not None
    wanted = []
    for _ in range(rng.randint(5, 15)):
        site.port.write(rng.randbytes(rng.randint(1, 200)) + b"\r")
        wanted.append(f"AST-SERIAL-{site.next_scan()}")
        site.port.write(wanted[-1].encode() + b"\r")
    site.port.write(b"AST-CUT-OFF")
    time.sleep(rng.uniform(0.1, 0.5))
    _replug(site, site.port, rng)
    wanted.append(f"AST-SERIAL-{site.next_scan()}")
    site.port.write(wanted[-1].encode() + b"\r")
    wait_for(lambda: _kept_whole(site, wanted), timeout=120)


def evdev_scanner(site: Site, rng: random.Random) -> None:
    """While the operator scans at the station, its USB keyboard-wedge scanner types codes;
    the kernel's event buffer overflows in the middle of one (SYN_DROPPED), then the
    scanner is unplugged and plugged back. Each code typed whole is kept once, the one cut
    by the overflow is not kept at all, and the scanner reads again after the replug."""
    assert site.keyboard is not None
    keys = Keyboard()
    wanted = []
    cut_at = rng.randint(0, 4)
    for n in range(rng.randint(5, 15)):
        if n == cut_at:
            keys.type("AST-OVER").dropped().type("FLOW").enter()
        wanted.append(f"AST-HID-{site.next_scan()}")
        keys.type(wanted[-1]).enter()
        site.keyboard.send(keys.events)
        keys.events.clear()
    wait_for(lambda: _kept_whole(site, wanted, cut="FLOW"), timeout=120)
    (scanner,) = site.agent.status()["scanners"]
    assert scanner["syn_dropped"] >= 1, scanner
    _replug(site, site.keyboard, rng)
    wanted.append(f"AST-HID-{site.next_scan()}")
    site.keyboard.send(keys.type(wanted[-1]).enter().events)
    wait_for(lambda: _kept_whole(site, wanted, cut="FLOW"), timeout=120)


class _Cable(Protocol):
    def unplug(self) -> None: ...

    def plug(self) -> None: ...


def _replug(site: Site, cable: _Cable, rng: random.Random) -> None:
    """Unplugged until the station says so, then plugged back until it reads again."""
    cable.unplug()
    wait_for(lambda: _scanner_connected(site, False), timeout=60)
    time.sleep(rng.uniform(0.1, 1))
    cable.plug()
    wait_for(lambda: _scanner_connected(site, True), timeout=60)


def _scanner_connected(site: Site, connected: bool) -> None:
    (scanner,) = site.agent.status()["scanners"]
    assert scanner["connected"] is connected, scanner


def _kept_whole(site: Site, wanted: list[str], cut: str = "CUT-OFF") -> None:
    raws = [kept.raw for kept in station_kept(site.outbox).values()]
    missing = [code for code in wanted if raws.count(code) != 1]
    assert not missing, f"the station did not keep, once each: {missing}"
    kept_cut = [raw for raw in raws if cut in raw]
    assert not kept_cut, f"a code cut off was kept: {kept_cut}"


def garbage(site: Site, rng: random.Random) -> None:
    """While the station scans: random bytes, payloads from another agent id on this
    station's topic, and a scan the hub confirmed replayed with other content."""
    topic = f"scantrail/v1/agents/{site.agent.agent_id}/scans"
    client = mqtt_client.connect(site.broker.port)
    try:
        for n in range(200):
            payload = rng.randbytes(rng.randint(0, 2048))
            client.publish(topic if n % 2 else f"scantrail/v1/agents/x{n}/scans", payload, qos=1)
        for scan in wait_for(lambda: _some_confirmed(site), timeout=120):
            event = ScanEvent.model_validate(scan["event"])
            forged = event.model_copy(update={"raw": "AST-FORGED"})
            elsewhere = event.model_copy(update={"agent_id": "pi-someone-else"})
            for sent in (forged, elsewhere):
                batch = EventBatch(
                    agent_id=sent.agent_id, incarnation=sent.incarnation, events=(sent,)
                )
                client.publish(topic, codec.encode(batch), qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _some_confirmed(site: Site) -> list[dict[str, Any]]:
    """Scans the hub stored, to replay (with other content, or as another agent)."""
    scans = site.hub.all_scans(site.agent.agent_id)[:20]
    assert len(scans) >= 5, "the hub has not stored five of the station's scans yet"
    return scans


FAULTS = (
    Fault("agent kill -9 mid-burst", "processes", agent_kill, 100),
    Fault("agent SIGSTOP past its keepalive", "processes", agent_frozen, 3),
    Fault("hub kill -9 before commit", "processes", _hub_crash("before_commit"), 4),
    Fault("hub kill -9 after commit, before ack", "processes", _hub_crash("after_commit"), 4),
    Fault("hub kill -9 during a projection step", "processes", _hub_crash("mid_projection"), 4),
    Fault("broker restart", "processes", broker_restart, 5),
    Fault("broker kill -9, store deleted", "processes", broker_store_lost, 5),
    Fault("link down", "network", link_down, 5, network=True),
    Fault("blackhole (packets dropped)", "network", blackhole, 2, network=True),
    Fault("flapping every 1-5 s", "network", flapping, 1, network=True),
    Fault("squeezed to 64 kbit/s", "network", squeezed, 2, network=True),
    Fault("long partition (1,800 scans)", "network", long_partition, 1, network=True),
    Fault("agent disk full", "storage", agent_disk_full, 3, disk="agent"),
    Fault("outbox restored from a copy taken mid-write", "storage", restored_copy, 1),
    Fault("a corrupt outbox page", "storage", corrupt_page, 1),
    Fault("hub disk full", "storage", hub_disk_full, 3, disk="hub", databases=("sqlite",)),
    Fault(
        "PostgreSQL stopped mid-drain", "storage", database_restart, 5, databases=("postgresql",)
    ),
    Fault(
        "station clock a day ahead at boot, then stepped right",
        "clocks",
        clock_a_day_wrong_at_boot,
        3,
        clock="station",
    ),
    Fault(
        "station clock stepped back an hour mid-shift",
        "clocks",
        clock_back_an_hour,
        3,
        clock="station",
    ),
    Fault(
        "hub clock stepped an hour ahead mid-shift, then back",
        "clocks",
        hub_clock_ahead_an_hour,
        2,
        clock="hub",
    ),
    Fault(
        "broker certificate not yet valid",
        "clocks",
        certificate_not_yet_valid,
        2,
        tls=True,
    ),
    Fault(
        "serial scanner: noise, a code cut off by unplugging",
        "scanners",
        serial_scanner,
        3,
        scanner="serial",
    ),
    Fault(
        "evdev scanner: SYN_DROPPED mid-code, unplugged",
        "scanners",
        evdev_scanner,
        2,
        scanner="evdev",
    ),
    Fault("garbage, spoofed and replayed payloads", "input", garbage, 3),
)
