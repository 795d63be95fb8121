"""Who may say what on the bus: each service's NATS user and its subject permissions.

DESIGN.md's bus table, turned into NATS authorization: every service
connects as its own user and may publish and subscribe only on the subjects
it produces and consumes there, on its own reply inbox (`_INBOX_<user>.>`,
so nobody reads another's replies), and on the JetStream API of the streams
and consumers it uses. Only the `admin` user (the one `revue run` and
compose's `migrate` use to declare streams, and operators) may do anything
else. `nats_config` renders the table as a nats-server configuration
(`revue nats-config`; compose's `deploy/nats/revue.conf` is that output).

Not for: checking permissions in Revue itself; the NATS server enforces them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from revue.common.contracts import subjects as s
from revue.common.contracts.streams import (
    ANALYSIS_DEAD,
    ANALYSIS_EVENTS,
    ANALYSIS_JOBS,
    CDN,
    QUERY_ADVICE,
    QUERY_EVENTS,
)
from revue.common.contracts.subjects import BusTopology

ADMIN = "admin"
# What every service with a database says (the query monitor), and the cache fan-out.
DATABASE = (s.DB_QUERY_EXECUTED, s.DB_TABLE_CHANGED)


@dataclass(frozen=True)
class Grant:
    """One service's rights, before the deployment's namespace is applied."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    # Streams whose consumers the service creates, reads and acknowledges.
    consumes: tuple[str, ...] = ()
    # Inboxes of other users it answers on (replies named in a message's body).
    answers_inboxes_of: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()  # stream info only (figures, checks)


GRANTS: dict[str, Grant] = {
    "gateway": Grant(
        publish=(
            s.ANALYSIS_RUN, s.ANALYSIS_RUN_BATCH, f"{s.ANALYSIS_JOBS}.*", s.ANALYSIS_STATS,
            s.ANALYSIS_USAGE,
            s.CACHE_STATS, s.CACHE_INVALIDATE, s.CDN_MANIFEST, s.QUERY_REPORT,
            s.QUERY_RECOMMENDATIONS, *DATABASE,
        ),
        subscribe=(s.CACHE_INVALIDATE, s.CACHE_STATS),
        consumes=(ANALYSIS_EVENTS.name,),
        streams=(ANALYSIS_JOBS.name,),
    ),
    "analysis": Grant(
        publish=(s.ANALYSIS_COMPLETED_ANY, s.ANALYSIS_DEAD, *DATABASE),
        subscribe=(
            s.ANALYSIS_RUN, s.ANALYSIS_RUN_BATCH, s.ANALYSIS_STATS, s.ANALYSIS_USAGE,
            s.CACHE_INVALIDATE, s.CACHE_STATS,
        ),
        consumes=(ANALYSIS_JOBS.name,),
        answers_inboxes_of=("gateway",),
        streams=(ANALYSIS_DEAD.name, ANALYSIS_EVENTS.name),
    ),
    "cache": Grant(
        publish=(s.CACHE_INVALIDATE,),
        subscribe=(s.CACHE_GET, s.CACHE_SET, s.CACHE_STATS, s.CACHE_INVALIDATE),
        consumes=(ANALYSIS_EVENTS.name,),
    ),
    "query-optimizer": Grant(
        publish=(s.QUERY_RECOMMENDATION_CREATED, *DATABASE),
        subscribe=(s.QUERY_REPORT, s.QUERY_RECOMMENDATIONS, s.DB_TABLE_CHANGED),
        consumes=(QUERY_EVENTS.name,),
        streams=(QUERY_ADVICE.name,),
    ),
    "cdn": Grant(
        publish=(s.CDN_ASSET_PUBLISHED, s.CDN_INVALIDATE_COMPLETED, *DATABASE),
        subscribe=(s.CDN_MANIFEST,),
        consumes=(CDN.name,),
    ),
}  # fmt: skip
USERS = (*GRANTS, ADMIN)


def inbox_prefix(user: str) -> str:
    """A user's own reply subjects: `_INBOX_<user>` (NATS's default is a shared `_INBOX`)."""
    return f"_INBOX_{user.replace('-', '_')}"


def permissions(user: str, topology: BusTopology) -> dict[str, object]:
    """The nats-server `permissions` block of one service user."""
    grant = GRANTS[user]
    api = "$JS.API"
    streams = [topology.stream(name) for name in (*grant.consumes, *grant.streams)]
    publish = [topology.subject(subject) for subject in grant.publish]
    publish += [f"{inbox_prefix(other)}.>" for other in grant.answers_inboxes_of]
    publish += [f"{api}.STREAM.INFO.{stream}" for stream in streams] + [f"{api}.STREAM.NAMES"]
    for stream in (topology.stream(name) for name in grant.consumes):
        publish += [
            f"{api}.CONSUMER.CREATE.{stream}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"{api}.CONSUMER.INFO.{stream}.>",
            f"{api}.CONSUMER.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>",
        ]
    subscribe = [topology.subject(subject) for subject in grant.subscribe]
    subscribe.append(f"{inbox_prefix(user)}.>")
    return {
        "publish": {"allow": publish},
        "subscribe": {"allow": subscribe},
        # Replies to the requests it received (request/reply responders).
        "allow_responses": True,
    }


def nats_config(topology: BusTopology, passwords: Mapping[str, str]) -> str:
    """The `authorization` block of a nats-server configuration: one user per service
    plus `admin`. `passwords` maps each user to its password, or to `$NAME`, which
    the server reads from its environment (compose)."""
    entries = []
    for user in USERS:
        entry: dict[str, object] = {"user": user}
        if user != ADMIN:
            entry["permissions"] = permissions(user, topology)
        password = passwords[user]
        value = password if password.startswith("$") else json.dumps(password)
        entries.append(f'    {json.dumps(entry)[:-1]}, "password": {value}}}')
    return "\n".join(
        [
            "# Revue's NATS users and permissions, rendered from revue.common.bus.permissions.",
            "authorization {",
            "  users = [",
            ",\n".join(entries),
            "  ]",
            "}",
            "",
        ]
    )
