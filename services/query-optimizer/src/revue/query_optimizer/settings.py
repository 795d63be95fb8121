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
    query_events_consumer: str = "query-optimizer"
    slow_log_ms: float = Field(default=100.0, ge=0)
    explain_timeout_ms: int = Field(default=2_000, ge=10)
    slow_log_max_rows: int = Field(default=10_000, ge=10)

    # Index advice: how often, on how much of the workload, within what budget
    advisor_interval_s: float = Field(default=300.0, ge=0)  # 0: only when asked
    advisor_workload_size: int = Field(default=200, ge=1, le=5_000)
    advisor_max_indexes: int = Field(default=10, ge=1, le=100)
    advisor_max_index_bytes: int = Field(default=16 * 1024**3, ge=1)
    advisor_max_index_columns: int = Field(default=4, ge=1, le=32)
    advisor_min_improvement: float = Field(default=0.05, ge=0, le=1)
    # Without hypopg, candidate indexes are built for real (then rolled back)
    # only on tables up to this size: the build blocks their writers meanwhile.
    advisor_rollback_max_table_bytes: int = Field(default=100 * 1024**2, ge=0)

    # The query-result cache its own report reads go through
    query_cache_enabled: bool = True
    query_cache_ttl: int = Field(default=300, ge=1)
