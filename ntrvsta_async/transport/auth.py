"""How the API key travels (OP-3) and how it is shown: never more than a short prefix."""

from __future__ import annotations

from typing import Literal

from ntrvsta_async import assumptions
from ntrvsta_async.errors import ConfigurationError

__all__ = ["AuthScheme", "auth_headers", "redact"]

AuthScheme = Literal["api-key", "bearer"]
"""``"api-key"`` sends ``X-Ntrvsta-Api-Key``; ``"bearer"`` sends ``Authorization: Bearer``."""


def auth_headers(
    api_key: str, scheme: str, header: str = assumptions.API_KEY_HEADER
) -> dict[str, str]:
    """The one header that carries the key; never both forms."""
    if scheme == "api-key":
        return {header: api_key}
    if scheme == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    raise ConfigurationError(f"auth_scheme must be 'api-key' or 'bearer', not {scheme!r}")


def redact(api_key: str) -> str:
    """A key as it may appear in a repr or log: a short prefix, never the secret part."""
    shown = min(assumptions.KEY_PREFIX_SHOWN, len(api_key) // 3)
    return f"{api_key[:shown]}…"
