"""The leadership protocol: with several replicas only the holder of a lease polls."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Lease"]


@runtime_checkable
class Lease(Protocol):
    """A named, expiring lock held by one replica at a time, with a fencing token.

    ``epoch`` grows every time the lease changes hands; checkpoints written with it as their
    fence cannot be overwritten by a replica that lost the lease.
    """

    @property
    def epoch(self) -> int | None:
        """The fencing token of the current holding, or None while not held."""
        ...

    async def acquire(self) -> bool:
        """Take the lease if it is free (or keep it if held); True when this replica holds it."""
        ...

    async def release(self) -> None:
        """Give the lease up so another replica can take it at once."""
        ...

    async def close(self) -> None:
        """Release the lease and the resources behind it."""
        ...
