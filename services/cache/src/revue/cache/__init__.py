"""revue.cache: The two-tier result cache (L1 memory, L2 Redis) and its invalidation.

Owns: L2 entries (Redis); each process holds its own L1.
"""
