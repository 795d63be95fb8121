"""The two measurements verification and the byte budget stand on, against real builds and
real rows: an index's size before it exists, and arguments drawn from the data."""

from __future__ import annotations

import pytest

from revue.query_optimizer.advisor.arguments import draw_arguments
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.sizes import estimated_size
from revue.query_optimizer.advisor.whatif import IndexSpec, hypopg_available

TABLES = {"analysis_sessions", "code_review_results"}
NULLABLE = """
CREATE TABLE reviews (id bigserial PRIMARY KEY, reviewer_id bigint, decided_at timestamptz);
SELECT setseed(0.3);
INSERT INTO reviews (reviewer_id, decided_at)
SELECT CASE WHEN random() < 0.05 THEN 1 + floor(random() * 50)::bigint END,
       timestamptz '2026-01-01' + g * interval '1 minute'
FROM generate_series(1, 50000) AS g;
"""


async def built_size(connection, index: IndexSpec) -> int:
    await connection.execute(index.ddl(name="size_probe"))
    try:
        return await connection.fetchval("SELECT pg_relation_size('size_probe')")
    finally:
        await connection.execute("DROP INDEX size_probe")


@pytest.mark.parametrize(
    "index",
    [
        IndexSpec("analysis_sessions", ("project_id",)),  # a repeated key: deduplicated
        IndexSpec("analysis_sessions", ("status",)),  # four values over every row
        IndexSpec("analysis_sessions", ("project_id", "status", "created_at")),  # unique-ish
        IndexSpec("code_review_results", ("session_id",), ("severity", "rule_id")),  # INCLUDE
        IndexSpec("analysis_sessions", ("created_at",), where="\"status\" = 'queued'"),
    ],
    ids=str,
)
async def test_the_estimate_is_within_a_fifth_of_the_built_size(seeded, index):
    catalog = await Catalog.load(seeded, TABLES)
    estimate = await estimated_size(seeded, catalog, index)
    real = await built_size(seeded, index)
    assert 0.8 <= estimate / real <= 1.2, (estimate, real)
    if await hypopg_available(seeded) and index.columns == ("status",):
        # hypopg's own figure ignores deduplication: far off on a repeated key.
        oid = await seeded.fetchval("SELECT indexrelid FROM hypopg_create_index($1)", index.ddl())
        hypothetical = await seeded.fetchval("SELECT hypopg_relation_size($1)", oid)
        await seeded.execute("SELECT hypopg_reset()")
        assert hypothetical / real > 2


async def test_a_range_gets_a_narrow_window_and_a_key_a_value_that_is_there(seeded):
    await seeded.execute(NULLABLE)
    await seeded.execute("ANALYZE reviews")
    catalog = await Catalog.load(seeded, {"reviews"})
    sql = (
        "SELECT count(*) FROM reviews WHERE reviewer_id = $1 "
        "AND decided_at >= $2 AND decided_at < $3"
    )

    drawn = await draw_arguments(seeded, sql, catalog, 8)

    assert isinstance(drawn, list) and len(drawn) == 8
    for reviewer, lower, upper in drawn:
        assert reviewer is not None  # 95 % of rows have none: never drawn
        assert lower < upper
        share = await seeded.fetchval(
            "SELECT avg((decided_at >= $1 AND decided_at < $2)::int) FROM reviews", lower, upper
        )
        assert 0.001 < share < 0.05  # about 1 % of the rows
    assert drawn == await draw_arguments(seeded, sql, catalog, 8)  # the same every time


async def test_a_parameter_tied_to_no_column_cannot_be_drawn(seeded):
    catalog = await Catalog.load(seeded, TABLES)
    reason = await draw_arguments(
        seeded, "SELECT id FROM analysis_sessions WHERE project_id = $1 LIMIT $2", catalog, 3
    )
    assert reason == "no column for $2"
