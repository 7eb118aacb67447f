"""A disk that fills up, for real: a small tmpfs mounted where a process keeps its data
(needs root, as the network faults do), held full and freed again."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")


class SmallDisk:
    def __init__(self, path: Path, size_mb: int = 256) -> None:
        self.path = path
        self.size_mb = size_mb
        self._filler = path / "filler"
        self._freed = threading.Event()
        self._holder: threading.Thread | None = None

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        size = f"size={self.size_mb}m,mode=0755"
        _run("mount", "-t", "tmpfs", "-o", size, "tmpfs", str(self.path))

    def unmount(self) -> None:
        self.free()
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)

    def fill(self) -> None:
        """Every free block taken, and held: a block the process gives back (SQLite
        truncating its WAL) is taken again, so its next write that needs one gets ENOSPC."""
        self._freed.clear()
        self._take_all()
        self._holder = threading.Thread(target=self._hold, daemon=True)
        self._holder.start()

    def _hold(self) -> None:
        while not self._freed.wait(0.01):
            self._take_all()

    def _take_all(self) -> None:
        free = os.statvfs(self.path)
        with open(self._filler, "ab", buffering=0) as filler:
            try:
                # All at once, less a little the process may take meanwhile (it then fails
                # for want of space), then whatever is left a block at a time.
                if free.f_bavail > 16:  # fallocate refuses a length of 0 (EINVAL)
                    size = (free.f_bavail - 16) * free.f_frsize
                    os.posix_fallocate(filler.fileno(), filler.tell(), size)
                    filler.seek(0, os.SEEK_END)
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def free(self) -> None:
        self._freed.set()
        if self._holder is not None:
            self._holder.join(timeout=30)
            self._holder = None
        self._filler.unlink(missing_ok=True)
