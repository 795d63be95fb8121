"""Figures gathered from every replica, added up into the seeds' shapes.

`/api/v1/metrics/cache` and `/api/v1/metrics/batching` ask every process
that holds the figures (no queue group) and add them here, so the answer is
the deployment's, whichever replicas there are.
"""

from __future__ import annotations

from typing import Any


def _sum(answers: list[dict[str, Any]], *path: str) -> float:
    total = 0.0
    for answer in answers:
        value: Any = answer
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        total += value if isinstance(value, int | float) else 0
    return total


def cache_figures(holders: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed 003's `/metrics/cache` shape over every holder of the result cache.

    `hits` and `misses` count reads of the cache in every process that holds
    it (gateways, analysis, cache service): a request the gateway misses and
    the analysis service then finds is one miss and one hit.
    """
    hits = int(_sum(holders, "global", "hits"))
    misses = int(_sum(holders, "global", "misses"))
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "total_requests": total,
        "hit_rate_percent": round(100 * hits / total, 2) if total else 0.0,
        "enabled": any(holder.get("enabled") for holder in holders),
        "l1": {
            key: int(_sum(holders, "l1", key))
            for key in ("hits", "misses", "size", "memory_usage_bytes", "evictions")
        },
        "l2": {key: int(_sum(holders, "l2", key)) for key in ("hits", "misses", "errors")},
        "savings_estimate": {
            "ai_calls_saved": int(_sum(holders, "savings_estimate", "ai_calls_saved")),
            "estimated_cost_saved_usd": round(
                _sum(holders, "savings_estimate", "estimated_cost_saved_usd"), 6
            ),
            "stored_cost_saved_usd": round(
                _sum(holders, "savings_estimate", "stored_cost_saved_usd"), 6
            ),
            "hits_at_stored_cost": int(_sum(holders, "savings_estimate", "hits_at_stored_cost")),
            "hits_at_flat_price": int(_sum(holders, "savings_estimate", "hits_at_flat_price")),
        },
        "holders": sorted(holders, key=lambda holder: str(holder.get("holder"))),
    }


def batching_figures(replicas: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed 000's `/metrics/batching` shape (`ai_analysis`: totals, average batch size,
    efficiency gain) over every analysis replica, each replica's figures beside them."""
    requests = int(_sum(replicas, "batching", "ai_analysis", "total_requests"))
    batches = int(_sum(replicas, "batching", "ai_analysis", "total_batches"))
    average = round(requests / batches, 3) if batches else 0.0
    return {
        "ai_analysis": {
            "total_requests": requests,
            "total_batches": batches,
            "avg_batch_size": average,
            "efficiency_gain": average,
            "errors": int(_sum(replicas, "batching", "ai_analysis", "errors")),
        },
        # The job stream is one for every replica: any replica's view of it.
        "queue": next((r["queue"] for r in replicas if r.get("queue") is not None), None),
        "breaker": {str(r.get("instance")): r.get("breaker") for r in replicas},
        "replicas": sorted(replicas, key=lambda replica: str(replica.get("instance"))),
    }
