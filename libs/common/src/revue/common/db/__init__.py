"""The database layer every service with tables shares.

The pooled asyncpg engine and its statistics, Alembic migrations per service,
the query monitor that times and samples every statement to the bus, and the
SQL shape (fingerprint, tables read and written) that the monitor and the
query-optimizer agree on.
"""
