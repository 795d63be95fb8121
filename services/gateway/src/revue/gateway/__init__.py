"""revue.gateway: The public REST API: validates, authenticates, rate-limits, publishes to NATS.

Owns: users, API keys and job status (Postgres); rate-limit counters (Redis).
"""
