"""A serial barcode scanner as the agent sees one: a pseudo-terminal pair whose slave is
reached through a stable symlink, like /dev/serial/by-id. Unplug closes the pair and
removes the link; plug makes a new pair behind the same link."""

from __future__ import annotations

import os
from pathlib import Path


class FakeScannerPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self._slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self._slave = os.openpty()
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self._slave))
        tmp.replace(self.link)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self._slave)
        self.link.unlink()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)
