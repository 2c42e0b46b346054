"""How the sandbox's wire may differ from the SDK's assumed contract, to rehearse a mismatch.

The default ``SandboxDialect()`` speaks exactly the assumptions of ``ntrvsta_async.assumptions``.
A deviating dialect (other page keys, another invitation path, 200 for created, another
API-key header) lets ``ntrvsta doctor`` and ``Contract`` overrides be tried without a live
environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ntrvsta_async._checks import is_success_status
from ntrvsta_async.assumptions import (
    API_KEY_HEADER,
    INVITATIONS_PATH,
    PAGE_CURSOR_KEYS,
    PAGE_ITEMS_KEYS,
    PARAM_CURSOR,
    PARAM_LIMIT,
    STATUS_CREATED,
    STATUS_REUSED,
)

__all__ = ["SandboxDialect"]

_TEMPLATE_ID = "{templateId}"


def _path(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{attribute.name} must be a path starting with '/'")
    if "{" in value.replace(_TEMPLATE_ID, ""):
        raise ValueError(f"{attribute.name} may hold no placeholder but {_TEMPLATE_ID}")


def _name(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _status(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not is_success_status(value):
        raise ValueError(f"{attribute.name} must be a 2xx status code")


@attrs.frozen
class SandboxDialect:
    """The wire details a sandbox uses; every default is the SDK's assumption (OP-2/3/4/8).

    ``invitations_path`` may carry ``{templateId}`` (the id then comes from the path);
    ``reused_flag=False`` leaves the ``reused`` flag out of create responses;
    ``accept_bearer=False`` refuses ``Authorization: Bearer``.
    """

    page_items_key: str = attrs.field(default=PAGE_ITEMS_KEYS[0], validator=_name)
    page_cursor_key: str = attrs.field(default=PAGE_CURSOR_KEYS[0], validator=_name)
    param_limit: str = attrs.field(default=PARAM_LIMIT, validator=_name)
    param_cursor: str = attrs.field(default=PARAM_CURSOR, validator=_name)
    invitations_path: str = attrs.field(default=INVITATIONS_PATH, validator=_path)
    status_created: int = attrs.field(default=STATUS_CREATED, validator=_status)
    status_reused: int = attrs.field(default=STATUS_REUSED, validator=_status)
    reused_flag: bool = True
    api_key_header: str = attrs.field(default=API_KEY_HEADER, validator=_name)
    accept_bearer: bool = True

    def results_query(self, query: Mapping[str, str]) -> dict[str, str]:
        """The query renamed to the contract's names; the contract's own names are ignored."""
        renamed = {self.param_limit: PARAM_LIMIT, self.param_cursor: PARAM_CURSOR}
        out: dict[str, str] = {}
        for key, value in query.items():
            if key in renamed:
                out[renamed[key]] = value
            elif key not in (PARAM_LIMIT, PARAM_CURSOR):
                out.setdefault(key, value)
        return out
