"""The look-ahead after a greedy choice: trade small indexes for a large one that pays more.

A greedy pass by benefit per byte fills the budget with cheap decisive
indexes and stops where the next, larger one no longer fits, though it
might save more than the last few small ones together (a wider key that
serves a hot user's page and its aggregate, say). So, for each candidate
not chosen, from the most promising: put it in, take out the chosen
indexes worth least per byte (their marginal saving, measured with the
candidate present) until the set fits the budget again, and keep the trade
when the workload, writes included, gets cheaper. Repeated while a trade
helps, a few rounds at most. Costs come from the advisor's cache: a trade
re-plans only the statements on the tables it touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from revue.query_optimizer.advisor.whatif import IndexSpec

if TYPE_CHECKING:
    from revue.query_optimizer.advisor.selection import IndexAdvisor, _Workload

MAX_ROUNDS = 4
CANDIDATES_PER_ROUND = 24
# A trade must save at least this share of the workload's cost: less is noise.
MIN_GAIN = 1e-4


async def workload_cost(
    advisor: IndexAdvisor, plan: _Workload, config: list[IndexSpec]
) -> tuple[float, dict[int, float]]:
    costs = {id(query): await advisor.cost(query, config) for query in plan.queries}
    return plan.total(costs) + plan.write_cost(advisor.catalog, config), costs


async def _fitted(
    advisor: IndexAdvisor,
    plan: _Workload,
    config: list[IndexSpec],
    keep: IndexSpec,
    sizes: dict[IndexSpec, int],
) -> list[IndexSpec]:
    """`config` within the budget: the indexes (but `keep`) worth least per byte go first."""
    budget = advisor.budget
    while (
        sum(sizes[i] for i in config) > budget.max_bytes or len(config) > budget.max_indexes
    ) and len(config) > 1:
        whole, _ = await workload_cost(advisor, plan, config)
        worth = {}
        for index in config:
            if index != keep:
                without, _ = await workload_cost(advisor, plan, [i for i in config if i != index])
                worth[index] = (without - whole) / max(sizes[index], 1)
        config = [i for i in config if i != min(worth, key=worth.__getitem__)]
    return config


async def improve_by_swaps(
    advisor: IndexAdvisor,
    plan: _Workload,
    pool: set[IndexSpec],
    sizes: dict[IndexSpec, int],
    chosen: list[IndexSpec],
) -> tuple[list[IndexSpec], dict[int, float]]:
    best, costs = await workload_cost(advisor, plan, chosen)
    for _ in range(MAX_ROUNDS):
        # The most promising first: what each would save with the current choice.
        promise = {}
        for candidate in pool - set(chosen):
            if any(other.covers(candidate) for other in chosen):
                continue
            trial = [i for i in chosen if not candidate.covers(i)] + [candidate]
            cost, trial_costs = await workload_cost(advisor, plan, trial)
            # As in the greedy pass: it must save its share of what it touches.
            helped = sum(
                q.query.calls * costs[id(q)]
                for q in plan.queries
                if trial_costs[id(q)] < costs[id(q)]
            )
            if best - cost >= max(advisor.budget.min_improvement * helped, 0.0) and cost < best:
                promise[candidate] = best - cost
        traded = None
        for candidate in sorted(promise, key=promise.__getitem__, reverse=True)[
            :CANDIDATES_PER_ROUND
        ]:
            trial = [i for i in chosen if not candidate.covers(i)] + [candidate]
            trial = await _fitted(advisor, plan, trial, candidate, sizes)
            cost, trial_costs = await workload_cost(advisor, plan, trial)
            if cost < best * (1 - MIN_GAIN) and (traded is None or cost < traded[0]):
                traded = (cost, trial, trial_costs)
        if traded is None:
            break
        best, chosen, costs = traded
    return chosen, costs
