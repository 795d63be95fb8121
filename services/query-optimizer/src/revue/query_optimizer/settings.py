"""Settings of the query-optimizer service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class QueryOptimizerSettings(ServiceSettings):
    otel_service_name: str = "revue-query-optimizer"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8003, ge=1, le=65535, validation_alias=AliasChoices("QUERY_OPTIMIZER_PORT", "port")
    )
    """The query-optimizer's HTTP port (`QUERY_OPTIMIZER_PORT`): health and metrics only."""

    # --- statistics and the slow-query log -------------------------------------------
    query_events_consumer: str = "query-optimizer"
    """The durable consumer of `db.query.executed`."""
    slow_log_ms: float = Field(default=100.0, ge=0)
    """A statement at least this slow goes to the slow-query log, with its plan."""
    explain_timeout_ms: int = Field(default=2_000, ge=10)
    """Milliseconds planning one logged statement may take."""
    slow_log_max_rows: int = Field(default=10_000, ge=10)
    """The slow-query log keeps its newest rows, this many."""

    # --- index advice: how often, on how much of the workload, within what budget ---
    advisor_interval_s: float = Field(default=300.0, ge=0)
    """Seconds between advice runs (0: only when asked)."""
    advisor_workload_size: int = Field(default=200, ge=1, le=5_000)
    """Statement shapes advised on: those with the most total time."""
    advisor_max_indexes: int = Field(default=10, ge=1, le=100)
    """Indexes recommended at most."""
    advisor_max_index_bytes: int = Field(default=16 * 1024**3, ge=1)
    """Bytes all recommended indexes may take together."""
    advisor_max_index_columns: int = Field(default=4, ge=1, le=32)
    """Columns in one recommended index at most."""
    advisor_min_improvement: float = Field(default=0.05, ge=0, le=1)
    """An index must cut the workload's cost by at least this share to be recommended."""
    advisor_rollback_max_table_bytes: int = Field(default=100 * 1024**2, ge=0)
    """Without hypopg, candidate indexes are built for real (then rolled back) only on
    tables up to this size: the builds block their writers until the advice run ends."""
    advisor_verify: bool = True
    """Build the final choice for real (in a rolled-back transaction), time the workload's
    SELECTs before and after, and drop what no plan used or what did not pay."""
    advisor_verify_max_table_bytes: int = Field(default=64 * 1024**2, ge=0)
    """Verification builds only on tables up to this size (the build blocks their writers
    meanwhile); advice on larger tables is kept unverified, and said so."""
    advisor_verify_samples: int = Field(default=5, ge=1, le=100)
    """Argument sets, drawn from the tables, each verified statement runs with."""

    # --- the query-result cache its own report reads go through ----------------------
    query_cache_enabled: bool = True
    """Cache query results (dropped when their tables change); false: always the database."""
    query_cache_ttl: int = Field(default=300, ge=1)
    """Seconds a cached query result is kept at most."""
