"""Seed 001's QueryOptimizer example, run as its users wrote it (imports aside), on real data."""

from redis.asyncio import Redis
from sqlalchemy import text

from revue.common.db.engine import create_engine
from revue.common.settings import ServiceSettings
from revue.query_optimizer.seeds import QueryOptimizer


async def test_seed_001_query_optimizer_example(seeded, database_url, redis_url, redis_prefix):
    db_connection = create_engine(ServiceSettings(database_url=database_url))
    redis = Redis.from_url(redis_url)
    user_id = 7
    try:
        optimizer = QueryOptimizer(
            db_connection, slow_threshold_ms=0, redis=redis, namespace=redis_prefix.rstrip(":")
        )
        # Automatic caching
        result, duration = await optimizer.execute_query(  # the seed's pair
            "SELECT * FROM projects WHERE owner_id = $1",
            {"owner_id": user_id},
            use_cache=True,
            cache_ttl=300,  # 5 minutes
        )
        assert result and all(row["owner_id"] == user_id for row in result)
        again, _ = await optimizer.execute_query(
            "SELECT * FROM projects WHERE owner_id = $1", {"owner_id": user_id}, cache_ttl=300
        )
        assert again == result and duration >= 0
        assert optimizer.cache.stats()["hits"] == 1
        # Cache invalidation on writes
        async with db_connection.begin() as connection:
            await connection.execute(
                text("UPDATE projects SET name = 'renamed' WHERE owner_id = :o"), {"o": user_id}
            )
        assert await optimizer.invalidate_cache_for_table("projects") >= 1
        fresh, _ = await optimizer.execute_query(
            "SELECT * FROM projects WHERE owner_id = $1", {"owner_id": user_id}
        )
        assert {row["name"] for row in fresh} == {"renamed"}
        # Slow query detection (a threshold of 0 ms: every statement is "slow" here)
        slow = optimizer.get_slow_queries()
        assert slow and slow[0]["plan"] and slow[0]["query_hash"]
        # Get recommendations: projects.owner_id has no index in the seeded schema
        for _ in range(5):
            await optimizer.execute_query(
                "SELECT id, status FROM analysis_sessions WHERE project_id = $1 "
                "ORDER BY created_at DESC LIMIT 20",
                [3],
                use_cache=False,
            )
        recommendations = await optimizer.get_index_recommendations()
        assert recommendations
        first = recommendations[0]
        assert {"table_name", "columns", "create_statement", "estimated_improvement"} <= set(first)
        assert first["create_statement"].startswith("CREATE INDEX CONCURRENTLY")
    finally:
        await redis.aclose()
        await db_connection.dispose()
