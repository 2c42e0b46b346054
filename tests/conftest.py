"""Shared test fixtures, and a compatibility shim for aioresponses on aiohttp >= 3.14."""

from __future__ import annotations

import types
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse
from yarl import URL


class _CompatClientResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without ``stream_writer``, which aiohttp 3.14
    requires (aioresponses upstream issue #289); supply an inert one."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
