"""How requests reach the analysis service: only the bus (no HTTP API of its own)."""
