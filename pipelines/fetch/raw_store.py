"""Content-addressed store of every byte the pipeline fetched or read.

Each body is stored once under ``raw/sha256/ab/cd/<sha256>``; rows carry the hash, so any row can be
traced to its bytes and re-parsed without the network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.atomic import atomic_write_bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RawStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotently) and return its SHA-256."""
        digest = sha256_hex(data)
        path = self.path_for(digest)
        if not path.exists():
            atomic_write_bytes(path, data)
        return digest

    def get(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(f"no raw bytes with sha256 {sha256} in {self.root}") from None

    def __contains__(self, sha256: object) -> bool:
        return isinstance(sha256, str) and self.path_for(sha256).exists()
