"""Secrets the hub is given: in its config, or as a systemd credential
(``LoadCredential=``: a file in ``$CREDENTIALS_DIRECTORY`` that only this service reads).
The agent has its own copy of these few lines: neither app imports the other."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr


def secret(configured: SecretStr | None, credential: str) -> str | None:
    """The configured value, else the credential of that name, else None."""
    if configured is not None:
        return configured.get_secret_value()
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / credential
        if path.is_file():
            return path.read_text().strip()
    return None
