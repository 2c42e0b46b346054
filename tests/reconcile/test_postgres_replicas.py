"""Two replica processes with ``PostgresLease`` on one database: the leader, SIGSTOPped past
its lease and resumed, runs no handler a second time and stops its stale pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reconcile.test_redis_replicas import a_paused_leader_is_deposed
from tests.support.postgres_support import postgres_cluster, postgres_dsn

__all__ = ["postgres_cluster", "postgres_dsn"]


@pytest.mark.slow
async def test_a_leader_paused_past_its_lease_is_deposed_and_nothing_runs_twice(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Transactional handlers hold their results' locks through the pause."""
    await a_paused_leader_is_deposed(postgres_dsn, tmp_path)
