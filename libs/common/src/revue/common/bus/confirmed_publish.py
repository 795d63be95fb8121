"""Publishing to JetStream until every message is confirmed, within a deadline.

nats-py's `publish_async` returns a future that has no timeout of its own: a
message that meets a server going away (sent on the old socket, never
answered) leaves its future pending for ever, and so does everything that
awaits it. A job whose outcome is announced that way stays "in progress"
and is never redelivered. Here each round waits at most `ack_timeout`, and
what was not confirmed (no answer, or "no responders" while JetStream
restarts) is sent again with backoff until `deadline`. Re-sending is safe
only because every message carries a `Nats-Msg-Id`: the stream stores a
duplicate once and answers it as such.

Errors that the stream itself gave (a full stream, a wrong subject) are not
retried: they reach the caller. The first round pipelines with
`publish_async`, whose futures never learn of such a refusal (nats-py leaves
them pending, nats-io/nats.py#985); re-sends use one `publish` request each,
which does raise it, so a refusal surfaces one `ack_timeout` later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from nats.errors import ConnectionClosedError, NoRespondersError, OutboundBufferLimitError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError

from revue.common.contracts.errors import RetryExhaustedError
from revue.common.resilience.retry import RetryConfig, retry_async


class UnconfirmedPublishError(ConnectionError):
    """Some messages were not confirmed by JetStream before the deadline."""

    def __init__(self, unconfirmed: int, total: int) -> None:
        super().__init__(f"{unconfirmed} of {total} messages not confirmed by JetStream")
        self.unconfirmed = unconfirmed


# The bus is away or restarting: worth sending again.
TRANSIENT = (
    UnconfirmedPublishError,
    NoStreamResponseError,
    NoRespondersError,
    TimeoutError,  # nats-py's own timeout is a subclass
    ConnectionClosedError,
    OutboundBufferLimitError,
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    subject: str
    payload: bytes
    headers: dict[str, str]  # must hold Nats-Msg-Id: re-sending relies on it


async def publish_confirmed(
    js: JetStreamContext,
    messages: Sequence[Outgoing],
    *,
    stream: str,
    ack_timeout: float = 2.0,
    deadline: float = 15.0,
) -> list[PubAck]:
    """Publish `messages` to `stream`; return each one's acknowledgement, in order.

    Raises `UnconfirmedPublishError` when the deadline passes with messages
    still unconfirmed, or the stream's own error for a message it refused.
    """
    for message in messages:
        if "Nats-Msg-Id" not in message.headers:
            raise ValueError("publish_confirmed re-sends: every message needs a Nats-Msg-Id")
    acks: list[PubAck | None] = [None] * len(messages)
    rounds = 0

    async def one_round() -> None:
        nonlocal rounds
        rounds += 1
        todo = [index for index, ack in enumerate(acks) if ack is None]
        batch = [messages[index] for index in todo]
        if rounds == 1:
            outcomes = await _pipelined(js, batch, stream, ack_timeout)
        else:
            outcomes = await _one_request_each(js, batch, stream, ack_timeout)
        refused = None
        for index, outcome in zip(todo, outcomes, strict=True):
            if isinstance(outcome, PubAck):
                acks[index] = outcome
            elif not isinstance(outcome, TRANSIENT):
                refused = outcome
        if refused is not None:
            raise refused
        if (unconfirmed := acks.count(None)) > 0:
            raise UnconfirmedPublishError(unconfirmed, len(messages))

    policy = RetryConfig(
        max_attempts=1_000,  # the deadline ends it
        initial_delay=0.1,
        max_delay=1.0,
        deadline=deadline,
        retry_on=TRANSIENT,
    )
    try:
        await retry_async(one_round, config=policy, name="publish_confirmed")
    except RetryExhaustedError as exhausted:
        raise UnconfirmedPublishError(acks.count(None), len(messages)) from exhausted.last_error
    return [ack for ack in acks if ack is not None]


async def _pipelined(
    js: JetStreamContext, messages: Sequence[Outgoing], stream: str, ack_timeout: float
) -> list[PubAck | BaseException]:
    """The fast way: send everything, then wait for the acknowledgements together."""
    futures: list[asyncio.Future[PubAck]] = []
    try:
        for message in messages:
            futures.append(
                await js.publish_async(
                    message.subject, message.payload, stream=stream, headers=dict(message.headers)
                )
            )
    finally:  # even when sending broke off: wait for what was sent
        if futures:
            await asyncio.wait(futures, timeout=ack_timeout)
    outcomes: list[PubAck | BaseException] = []
    for future in futures:
        if not future.done():
            future.cancel()  # frees nats-py's pending slot; the message goes again
            outcomes.append(TimeoutError("no acknowledgement"))
        else:
            outcomes.append(future.exception() or future.result())
    return outcomes


async def _one_request_each(
    js: JetStreamContext, messages: Sequence[Outgoing], stream: str, ack_timeout: float
) -> list[PubAck | BaseException]:
    """Re-sends go one request each: unlike `publish_async` (nats-io/nats.py#985),
    `publish` raises the stream's refusal instead of leaving the answer pending."""
    return await asyncio.gather(
        *(
            js.publish(
                message.subject,
                message.payload,
                timeout=ack_timeout,
                stream=stream,
                headers=dict(message.headers),
            )
            for message in messages
        ),
        return_exceptions=True,
    )
