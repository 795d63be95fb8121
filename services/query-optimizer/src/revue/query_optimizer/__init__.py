"""revue.query_optimizer: Watches the suite's own SQL, recommends indexes and caches query results.

Owns: query statistics, slow-query log and recommendations (Postgres).
"""
