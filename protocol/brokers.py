"""Which broker a client connects to: its own first, then the others in order.

Agents and hubs both take ``failover = ["host:port", …]`` after their ``host`` and
``port``. A connection that fails or drops moves to the next broker in the list, wrapping
round, and stays on the one that answers. With mosquitto, which has no clustering, that is
an active/standby pair every agent and hub lists in the same order; on a clustered broker
(EMQX, HiveMQ) any node will do (docs/cluster.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

BrokerAddress = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}$")
]


class Brokers:
    """The brokers in order, and the one to try now."""

    def __init__(self, host: str, port: int, failover: list[str]) -> None:
        self._all = [(host, port)] + [
            (address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])) for address in failover
        ]
        self._at = 0

    @property
    def current(self) -> tuple[str, int]:
        return self._all[self._at]

    @property
    def several(self) -> bool:
        return len(self._all) > 1

    def next(self) -> tuple[str, int]:
        """The broker after the current one (the first after the last)."""
        self._at = (self._at + 1) % len(self._all)
        return self.current
