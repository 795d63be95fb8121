"""How requests reach the cdn: the origin and admin API (HTTP), the bus, the `revue-cdn` command."""
