"""Invalidation: requests in, coalesced batches out to a purge back end."""
