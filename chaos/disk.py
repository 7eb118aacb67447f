"""A disk that fills up, for real: a small tmpfs mounted where a process keeps its data
(needs root, as the network faults do), filled to the last block and freed again."""

from __future__ import annotations

import errno
import os
import subprocess
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

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _run(
            "mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path)
        )

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)

    def fill(self) -> None:
        """Every free block taken: the next write that needs a block gets ENOSPC."""
        free = os.statvfs(self.path)
        with open(self._filler, "ab", buffering=0) as filler:
            try:
                # All at once, less a little the process may take meanwhile (it then fails
                # for want of space), then whatever is left a block at a time.
                os.posix_fallocate(filler.fileno(), 0, max(0, free.f_bavail - 16) * free.f_frsize)
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)
