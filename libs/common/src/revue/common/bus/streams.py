"""Create, update and remove the JetStream streams of `revue.common.contracts.streams`.

`ensure_streams` creates what is missing and updates what drifted; it is safe
to call from every service at start-up (or once, as the NATS admin user).
"""

from __future__ import annotations

from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from revue.common.contracts.streams import ALL_STREAMS, StreamSpec
from revue.common.contracts.subjects import BusTopology


async def ensure_streams(
    js: JetStreamContext,
    topology: BusTopology,
    specs: tuple[StreamSpec, ...] = ALL_STREAMS,
) -> list[str]:
    """Create or update each stream; return their names as deployed."""
    names = []
    for spec in specs:
        config = spec.config(topology)
        try:
            current = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            # Retention cannot change on a live stream; keep what exists.
            wanted = replace(config, retention=current.config.retention)
            await js.update_stream(wanted)
        names.append(config.name)
    return names


async def delete_streams(
    js: JetStreamContext, topology: BusTopology, specs: tuple[StreamSpec, ...] = ALL_STREAMS
) -> None:
    """Remove the namespace's streams (tests and `revue` tear-down)."""
    for spec in specs:
        try:
            await js.delete_stream(topology.stream(spec.name))
        except NotFoundError:
            continue
