"""Settings of the query-optimizer service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class QueryOptimizerSettings(ServiceSettings):
    otel_service_name: str = "revue-query-optimizer"
    port: int = Field(
        default=8003, ge=1, le=65535, validation_alias=AliasChoices("QUERY_OPTIMIZER_PORT", "port")
    )

    # Statistics and the slow-query log
    qo_consumer: str = "query-optimizer"
    qo_slow_query_ms: float = Field(default=100.0, ge=0)
    qo_explain_timeout_ms: int = Field(default=2_000, ge=10)
    qo_slow_log_max_rows: int = Field(default=10_000, ge=10)

    # Index advice: how often, on how much of the workload, within what budget
    qo_advice_interval_s: float = Field(default=300.0, ge=0)  # 0: only when asked
    qo_workload_size: int = Field(default=200, ge=1, le=5_000)
    qo_max_indexes: int = Field(default=10, ge=1, le=100)
    qo_max_index_bytes: int = Field(default=16 * 1024**3, ge=1)
    qo_max_index_columns: int = Field(default=4, ge=1, le=32)
    qo_min_improvement: float = Field(default=0.05, ge=0, le=1)
    # Without hypopg, candidate indexes are built for real (then rolled back)
    # only on tables up to this size: the build blocks their writers meanwhile.
    qo_rollback_max_table_bytes: int = Field(default=100 * 1024**2, ge=0)

    # The query-result cache its own report reads go through
    query_cache_enabled: bool = True
    query_cache_ttl: int = Field(default=300, ge=1)
