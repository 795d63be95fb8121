"""revue.analysis: Runs code analysis through a pluggable AI provider: batching, retries, breaker.

Owns: analysis sessions and findings (Postgres).
"""
