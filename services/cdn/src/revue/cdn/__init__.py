"""revue.cdn: Versions, compresses, serves and invalidates static assets.

Owns: asset manifest, versions and the invalidation log (Postgres); precompressed files (disk).
"""
