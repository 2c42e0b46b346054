"""``client.templates``: create-or-reuse interview templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ntrvsta_async.models import Template
from ntrvsta_async.resources._created import created_model
from ntrvsta_async.resources._params import check, compact, merge_extra
from ntrvsta_async.transport import Transport

__all__ = ["Templates"]


class Templates:
    """Template operations; reach them as ``client.templates``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        *,
        title: str,
        description: str | None = None,
        external_posting_id: str | None = None,
        invite_url_expires_in_days: int | None = None,
        whiteboard_design: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Template:
        """Create a template, or get back the one already mapped to ``external_posting_id``.

        Without ``external_posting_id`` every call creates a new template, so such a call is
        retried only when it certainly never reached the server.
        """
        check("title", title, str, optional=False)
        check("description", description, str)
        check("external_posting_id", external_posting_id, str)
        check("invite_url_expires_in_days", invite_url_expires_in_days, int)
        check("whiteboard_design", whiteboard_design, bool)
        body = compact(
            {
                "title": title,
                "description": description,
                "externalPostingId": external_posting_id,
                "inviteUrlExpiresInDays": invite_url_expires_in_days,
                "whiteboardDesign": whiteboard_design,
            }
        )
        transport = self._transport
        request = transport.build_request(
            "POST",
            transport.contract.templates_path,
            json=merge_extra(body, extra_body),
            safe=external_posting_id is not None,
        )
        response = await transport.send(request)
        return created_model(Template, response.status, response.data, transport.contract)
