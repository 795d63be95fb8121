"""The five services: their packages and HTTP ports (DESIGN.md's port table).

Names only, never imports: `revue migrate` and `revue run` find each
service's migrations and entry point from its module name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port_variable: str
    default_port: int

    def port(self, environ: Mapping[str, str]) -> int:
        return int(environ.get(self.port_variable, self.default_port))


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("gateway", "revue.gateway", "GATEWAY_PORT", 8000),
    ServiceSpec("analysis", "revue.analysis", "ANALYSIS_PORT", 8001),
    ServiceSpec("cache", "revue.cache", "CACHE_PORT", 8002),
    ServiceSpec("query-optimizer", "revue.query_optimizer", "QUERY_OPTIMIZER_PORT", 8003),
    ServiceSpec("cdn", "revue.cdn", "CDN_PORT", 8004),
)
