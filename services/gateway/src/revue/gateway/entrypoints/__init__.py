"""How requests reach the gateway: the public HTTP API, the bus, the `revue-gateway` command."""
