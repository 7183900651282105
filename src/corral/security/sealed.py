"""Values sealed under the server's secret key.

The vault's secrets, and provider keys given with runs and sessions while they need them, are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256), so the database only ever holds ciphertext;
every API node and worker must share the secret. A single-process server creates one in its
data directory on first start. To change it, the new key seals and the previous ones still open
(`CORRAL_PREVIOUS_SECRET_KEYS`) until `corral reseal` has sealed everything anew.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from corral import private_files

SECRET_FILE = "secret.key"


class SealError(Exception):
    """The sealed value cannot be opened with this server's secret."""


def _fernet(secret: str, setting: str) -> Fernet:
    try:
        return Fernet(secret.encode())
    except ValueError as error:
        raise ValueError(
            f"{setting} must hold keys of 32 url-safe base64-encoded bytes "
            "(generate one with `corral secret-key`)"
        ) from error


class SecretBox:
    """Seals and opens small JSON mappings of strings."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        self._fernet = MultiFernet(
            [
                _fernet(secret, "CORRAL_SECRET_KEY"),
                *(_fernet(old, "CORRAL_PREVIOUS_SECRET_KEYS") for old in previous),
            ]
        )

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

    def reseal(self, token: str) -> str:
        """`token` sealed anew under the current key (it may be sealed with a previous one)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as error:
            raise SealError("sealed with a key this server does not have") from error


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
