"""Reviewers as pseudonymous ids: a keyed hash (HMAC-SHA256) of the tool's user identity, never the identity itself.

A plain hash of an email or username can be reversed by hashing the team's addresses; a keyed hash cannot without
the key. The key comes from the environment variable BIOSYNTH_REVIEWER_KEY when set, else from `reviewer.key` in the
review folder (32 random bytes, written on first import, readable by the owner only), so pseudonyms stay stable
across imports into one review folder (an import with another key is refused there). Keep the file private.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from biosynth.core import ConfigError, atomic_path

KEY_ENV = "BIOSYNTH_REVIEWER_KEY"
KEY_FILE = "reviewer.key"


class Pseudonymiser:
    """Maps a tool's reviewer identity (e.g. 'label-studio:ann@example.org') to 'reviewer-<12 hex>'."""

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) < 16:
            raise ConfigError(f"the reviewer key ({source}) must hold at least 16 bytes, got {len(key)}")
        self._key = key
        self.source = source  # where the key came from: the variable's name or the file, never the key

    @property
    def key_id(self) -> str:
        """A short fingerprint of the key: two annotation files with the same key_id share pseudonyms."""
        return hashlib.sha256(b"biosynth-reviewer-key-id" + self._key).hexdigest()[:12]

    def __call__(self, identity: str) -> str:
        normalised = identity.strip().lower()
        if not normalised:
            raise ConfigError("a reviewer identity is empty")
        return "reviewer-" + hmac.new(self._key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:12]

    def describe(self) -> dict[str, str]:
        return {"method": "HMAC-SHA256 of the tool's user identity, first 12 hex digits", "key": self.source,
                "key_id": self.key_id}


def pseudonymiser_for(review_dir: Path) -> Pseudonymiser:
    """The key from BIOSYNTH_REVIEWER_KEY, else the review folder's key file (made on first use)."""
    value = os.environ.get(KEY_ENV)
    if value:
        return Pseudonymiser(value.encode("utf-8"), f"environment variable {KEY_ENV}")
    path = review_dir / KEY_FILE
    if not path.is_file():
        with atomic_path(path) as tmp:
            os.chmod(tmp, 0o600)  # before the key is written: never readable by others
            tmp.write_bytes(secrets.token_bytes(32))
    return Pseudonymiser(path.read_bytes(), f"file {KEY_FILE} in the review folder")
