"""Everything a gateway request handler may need, built once in `app.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.bus.jobs import JobSubmitter
from revue.common.cache import AIResultCache
from revue.common.contracts.events import AnalyzerIdentity
from revue.common.service import ServiceRuntime
from revue.gateway.adapters.accounts import Accounts
from revue.gateway.adapters.analysis_client import AnalysisClient
from revue.gateway.adapters.jobs import JobStore
from revue.gateway.adapters.rate_limiter import Policy
from revue.gateway.adapters.refresh_tokens import RefreshTokens
from revue.gateway.rate_leases import LeasedRateLimiter
from revue.gateway.recorder import ResultRecorder
from revue.gateway.response_cache import ResponseCache
from revue.gateway.security import Passwords, Tokens
from revue.gateway.settings import GatewaySettings


@dataclass
class Gateway:
    settings: GatewaySettings
    runtime: ServiceRuntime
    db: AsyncEngine
    redis: Redis
    limiter: LeasedRateLimiter
    passwords: Passwords
    tokens: Tokens
    analysis: AnalysisClient
    jobs: JobStore
    accounts: Accounts
    recorder: ResultRecorder
    cache: AIResultCache
    responses: ResponseCache
    refresh_tokens: RefreshTokens
    policies: dict[str, Policy] = field(default_factory=dict)
    # The analyzer that answered last: what the cache key of a request is made of.
    analyzer: AnalyzerIdentity | None = None

    def submitter(self) -> JobSubmitter:
        return JobSubmitter(self.runtime.nats.jetstream(), self.runtime.topology)


async def gateway(request: Request) -> Gateway:
    """Async on purpose: a sync dependency would cost a thread hop per request."""
    return request.app.state.gateway
