"""SHA-256 of files: the one helper behind every digest the kit declares or checks."""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO


def file_sha256(source: str | os.PathLike[str] | BinaryIO) -> str:
    """Hex SHA-256 of a file, named by its path or open in binary mode (read to its end)."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    return hashlib.file_digest(source, "sha256").hexdigest()
