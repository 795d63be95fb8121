"""Revue's shared library: what every service needs and no service owns.

    contracts/      subjects, streams, events, errors, languages, key formats (pure)
    bus/            the broker, responders, pull consumers, confirmed publishing, NATS users
    db/             the pooled engine, migrations, the query monitor, SQL shapes
    observability/  tracing, logs, HTTP telemetry, health and metrics routes
    cache/          the two-tier result cache (L1 memory, L2 Redis) and its invalidation
    resilience/     retry, circuit breaker, rate limiter
    concurrency/    micro-batching and single-flight
    settings        the pydantic-settings base every service extends
    service         the service runtime: start-up and shutdown order, the FastAPI app

Services import from here; they never import each other.
"""

__version__ = "0.1.0"
