"""Traces, logs, metrics and health: how a service is seen from outside.

OpenTelemetry set-up and span helpers for messages (`tracing`), the HTTP
request telemetry middleware, structured JSON logs with trace ids, the
`/healthz`, `/readyz` and `/metrics` routes, and the Prometheus metrics of
the shared building blocks.
"""
