"""Prometheus metrics of the shared building blocks (retry, breaker, batching, cache).

They live in the process-wide default registry, labelled by the instance's
name, because they belong to library objects rather than to one service app;
every service's `/metrics` renders this registry beside its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

retry_attempts_total = Counter(
    "retry_attempts_total", "Attempts made under a retry policy", ["function", "success"]
)
retry_duration_seconds = Histogram(
    "retry_duration_seconds",
    "Time from the first attempt to the final outcome",
    ["function"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

breaker_state = Gauge(
    "circuit_breaker_state", "Circuit state: 0 closed, 1 half-open, 2 open", ["breaker"]
)
breaker_transitions_total = Counter(
    "circuit_breaker_transitions_total", "State changes of a circuit breaker", ["breaker", "to"]
)
breaker_rejections_total = Counter(
    "circuit_breaker_rejections_total", "Calls refused while the circuit was open", ["breaker"]
)

batch_requests_total = Counter(
    "batch_requests_total", "Items submitted to a batch processor", ["processor"]
)
batch_batches_total = Counter("batch_batches_total", "Batches dispatched", ["processor"])
batch_errors_total = Counter("batch_errors_total", "Items that failed", ["processor"])
batch_size = Histogram(
    "batch_size",
    "Items per dispatched batch",
    ["processor"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
batch_wait_seconds = Histogram(
    "batch_wait_seconds",
    "Wait batching added to an item (collection window, not slot queueing)",
    ["processor"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1),
)
batch_processing_seconds = Histogram(
    "batch_processing_seconds", "Time the batch handler took", ["processor"]
)
batch_efficiency_gain = Gauge(
    "batch_efficiency_gain", "Items per handler call (requests / batches)", ["processor"]
)
