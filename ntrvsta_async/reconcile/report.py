"""What one reconciliation run did, for callbacks, logs and tests."""

from __future__ import annotations

from datetime import timedelta

import attrs

__all__ = ["ReconcileReport"]


@attrs.frozen
class ReconcileReport:
    """The counts of one ``ResultPoller.run_once()``.

    ``seen`` results were listed; ``new`` of them were claimed and handed to the handler,
    which succeeded for ``handled`` and raised for ``failed`` (retried next run);
    ``skipped_duplicates`` were already done (by the webhook receiver or an earlier run) and
    ``in_progress`` were being handled elsewhere; ``malformed`` page items could not be read
    at all and were skipped (each is logged with its JSON path). ``lag`` is now minus the
    newest ``completed_at`` seen. ``error`` is set when the API or the inbox stopped the run
    early (an inbox failure stops the pass at once and is reported once, with the count of
    results it left unclaimed); ``auth_failed`` when the API rejected the key.
    """

    leader: bool = True
    pages: int = 0
    seen: int = 0
    new: int = 0
    handled: int = 0
    failed: int = 0
    skipped_duplicates: int = 0
    in_progress: int = 0
    partitions: int = 0
    full_sweep: bool = False
    lag: timedelta | None = None
    duration: timedelta = timedelta(0)
    error: str | None = None
    auth_failed: bool = False
    malformed: int = 0

    @property
    def ok(self) -> bool:
        """True when the run finished without API errors or failed handlers."""
        return self.error is None and self.failed == 0
