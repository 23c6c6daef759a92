"""API keys: where they come from and how a request's key is checked.

Keys never appear in params, logs or responses. Comparison is constant-time
(``hmac.compare_digest``) against every configured key, so the time to reject a key says
nothing about how much of it was right.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from fastapi.security import APIKeyHeader

from serving.errors import ApiError

KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="The CRM's API key")


class KeyConfigError(RuntimeError):
    """No usable key is configured; the service refuses to start rather than run open."""


@dataclass(frozen=True)
class KeyRing:
    """The accepted keys, as bytes, ready for constant-time comparison."""

    keys: tuple[bytes, ...]

    def accepts(self, presented: str) -> bool:
        candidate = presented.encode("utf-8")
        matched = False
        for key in self.keys:  # no early exit: every key is compared
            matched |= hmac.compare_digest(candidate, key)
        return matched


def load_keys(env_var: str, key_file: Path | None, what: str) -> KeyRing:
    """Keys from ``env_var`` (comma-separated) and ``key_file`` (one per line, ``#`` comments).

    Raises :class:`KeyConfigError` naming the variable and file (never a key) when none is set.
    """
    keys = [part.strip() for part in os.environ.get(env_var, "").split(",")]
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise KeyConfigError(f"{what} key file {key_file}: {error.strerror}") from None
        keys += [line.strip() for line in lines if not line.strip().startswith("#")]
    usable = tuple(key.encode("utf-8") for key in keys if key)
    if not usable:
        source = f"environment variable {env_var}" + (f" or file {key_file}" if key_file else "")
        raise KeyConfigError(f"no {what} key configured: set {source}")
    return KeyRing(usable)


def check_key(ring: KeyRing | None, presented: str | None) -> ApiError | None:
    """The error for ``presented`` against ``ring`` (missing -> 401, wrong -> 403), or None."""
    if not presented:
        return ApiError(401, f"missing API key: send it in the {KEY_HEADER} header")
    if ring is None or not ring.accepts(presented):
        return ApiError(403, "the API key is not valid for this route")
    return None
