"""Does the server behind a URL answer, in its own protocol?

An open port is not enough: a probe speaks enough of the protocol to know
the server is the right kind and ready (NATS with JetStream, Redis answering
PING, PostgreSQL accepting a login to the named database). Probes are
blocking and short; they never raise.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlparse

import redis

from revue.common.db.engine import asyncpg_dsn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # handed back to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target, name="revue-probe")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def nats_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a NATS server with JetStream enabled greets us."""
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout
        ) as sock:
            greeting = sock.makefile("rb").readline(64 * 1024)
    except OSError:
        return False
    if not greeting.startswith(b"INFO "):
        return False
    try:
        info = json.loads(greeting[5:])
    except ValueError:
        return False
    return bool(info.get("jetstream"))


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    import asyncpg

    async def login() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout)
        await connection.close()

    try:
        run_blocking(login())
    except Exception:  # any failure means "not usable": refused, auth, missing db
        return False
    return True
