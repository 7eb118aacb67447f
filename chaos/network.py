"""A station's link to the broker, made real: the station runs in a network namespace of
its own, joined to the host by a veth pair, and a fault acts on that pair alone.

These work on this machine (../shared/research/edge-sync.md §4): namespaces, veth, `ip
link` down and up, `tc`'s ``tbf`` to squeeze, and nftables for a blackhole (every packet
dropped). netem does not, nor do tc's classifiers (no ``matchall``, no ``u32``)."""

from __future__ import annotations

import os
import subprocess

_made = 0


def _ip(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")


class Link:
    def __init__(self) -> None:
        global _made
        _made += 1
        tag = f"{os.getpid() % 100000}{_made}"
        self.ns = f"scantrail-chaos-{tag}"
        self.host_if, self.station_if = f"sc{tag}h", f"sc{tag}s"  # at most 15 characters
        # A /30 of its own per process and link: two runs at once do not meet.
        octets = (os.getpid() * 7 + _made) % 65536
        base = f"10.{64 + octets // 1024}.{(octets % 1024) // 4}.{(octets % 4) * 64}"
        prefix, last = base.rsplit(".", 1)
        self.host_ip, self.station_ip = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
        self._undo: tuple[str, ...] = ()

    def _in(self, *args: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns, *args)

    def prefix(self) -> list[str]:
        """How to run a process inside the station's namespace."""
        return list(self._in())

    def make(self) -> None:
        _ip("ip", "netns", "add", self.ns)
        _ip("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.station_if)
        _ip("ip", "link", "set", self.station_if, "netns", self.ns)
        _ip("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _ip("ip", "link", "set", self.host_if, "up")
        _ip(*self._in("ip", "addr", "add", f"{self.station_ip}/30", "dev", self.station_if))
        _ip(*self._in("ip", "link", "set", self.station_if, "up"))
        _ip(*self._in("ip", "link", "set", "lo", "up"))

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=30)

    def _both(self, *args: str) -> None:
        """A tc command on each end, so both directions are affected."""
        _ip("tc", *args[:2], "dev", self.host_if, *args[2:])
        _ip(*self._in("tc", *args[:2], "dev", self.station_if, *args[2:]))

    def down(self) -> None:
        _ip("ip", "link", "set", self.host_if, "down")

    def up(self) -> None:
        _ip("ip", "link", "set", self.host_if, "up")

    def blackhole(self) -> None:
        """Every packet dropped, both ways, in the station's namespace (nftables); the link
        stays up, so there is no carrier loss to notice."""
        rules = (
            "table inet chaos {\n"
            " chain in { type filter hook input priority 0; policy drop; }\n"
            " chain out { type filter hook output priority 0; policy drop; }\n"
            "}\n"
        )
        done = subprocess.run(
            [*self._in("nft", "-f", "-")], input=rules, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"nft failed: {done.stderr.strip()}")
        self._undo = ("nft", "delete", "table", "inet", "chaos")

    def squeeze(self, rate: str = "64kbit") -> None:
        self._both("qdisc", "add", "root", "tbf", "rate", rate, "burst", "4kb", "latency", "500ms")
        self._undo = ("tc", "qdisc", "del", "root")

    def clear(self) -> None:
        """Undo the blackhole or the squeeze."""
        if self._undo[:1] == ("nft",):
            _ip(*self._in(*self._undo))
        elif self._undo:
            self._both(*self._undo[1:])
        self._undo = ()


class PortCut:
    """Every packet to or from one loopback TCP port dropped (nftables), so the process
    connected through that port alone is partitioned, however often it reconnects: a hub
    on a broker listener of its own, cut from the broker while the other hubs go on."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.table = f"scantrail_cut_{os.getpid()}_{port}"

    def cut(self) -> None:
        rules = (
            f"table inet {self.table} {{\n"
            " chain out { type filter hook output priority 0;"
            f" tcp dport {self.port} drop; tcp sport {self.port} drop; }}\n"
            "}\n"
        )
        done = subprocess.run(
            ["nft", "-f", "-"], input=rules, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"nft failed: {done.stderr.strip()}")

    def heal(self) -> None:
        subprocess.run(
            ["nft", "delete", "table", "inet", self.table], capture_output=True, timeout=30
        )
