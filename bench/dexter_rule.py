"""The Dexter-style rule, as the peer to beat (a re-implementation of its published rules).

Dexter (ankane/dexter) costs indexes with hypopg and keeps, per query, the
single best index of at most two columns, and only when it at least halves
the query's cost. Candidate columns are the query's filter, join and sort
columns; pairs are tried in both orders.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import table_usage
from revue.query_optimizer.advisor.selection import WorkloadQuery
from revue.query_optimizer.advisor.whatif import IndexSpec, WhatIf

MAX_COLUMNS = 2
MIN_SAVING = 0.5


async def dexter_indexes(
    whatif: WhatIf, catalog: Catalog, workload: Sequence[WorkloadQuery]
) -> list[IndexSpec]:
    chosen: set[IndexSpec] = set()
    for query in workload:
        base = await whatif.cost(query.statement, [])
        best, best_cost = None, base
        for usage in table_usage(query.statement, catalog.columns_of).values():
            info = catalog.tables.get(usage.table)
            if info is None:
                continue
            columns = sorted(usage.columns & set(info.columns))
            shapes = [(c,) for c in columns] + list(itertools.permutations(columns, MAX_COLUMNS))
            for shape in shapes:
                if info.covered(shape):
                    continue
                index = IndexSpec(usage.table, shape)
                cost = await whatif.cost(query.statement, [index])
                if cost < best_cost:
                    best, best_cost = index, cost
        if best is not None and best_cost <= MIN_SAVING * base:
            chosen.add(best)
    return sorted(chosen)
