"""How requests reach the query-optimizer: the bus (reports, events) and its CLI."""
