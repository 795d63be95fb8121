"""How requests reach the cache service: only the bus (no HTTP API of its own)."""
