"""Provider keys given with a run, sealed while the run needs them.

They are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the server's secret key, so the
database only ever holds ciphertext; every API node and worker must share that secret. A
single-process server creates one in its data directory on first start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from corral import private_files

SECRET_FILE = "secret.key"


class SealError(Exception):
    """The sealed value cannot be opened with this server's secret."""


class SecretBox:
    """Seals and opens small JSON mappings of strings."""

    def __init__(self, secret: str) -> None:
        try:
            self._fernet = Fernet(secret.encode())
        except ValueError as error:
            raise ValueError(
                "CORRAL_SECRET_KEY must be 32 url-safe base64-encoded bytes "
                "(generate one with `corral secret-key`)"
            ) from error

    def seal(self, values: dict[str, str]) -> str:
        """The ciphertext of `values`."""
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        """The mapping sealed in `token`."""
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as error:
            raise SealError("sealed with another secret key") from error
        return {str(key): str(value) for key, value in data.items()}


def new_secret() -> str:
    """A new secret key, in the form `CORRAL_SECRET_KEY` takes."""
    return Fernet.generate_key().decode()


def load_or_create_secret(data_dir: Path) -> str:
    """The secret kept in the data directory, created (mode 0600) if there is none yet."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    private_files.make_dir(data_dir)
    secret = new_secret()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_files.FILE_MODE)
    except FileExistsError:
        return path.read_text().strip()  # another process of this server won the race
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
