"""A seeded schema shaped like the seeds' (users, projects, analysis_sessions,
code_review_results, audit_log) with skewed data, and a workload over it.

For trying the advisor, its tests and its benchmark. Skew as in real use: a
few projects own most sessions (`power(random(), 3)`), 90 % of sessions are
completed, most findings are low severity. `setseed` makes every run the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

SCHEMA = """
CREATE TABLE users (
    id bigserial PRIMARY KEY, email text NOT NULL, plan text NOT NULL,
    created_at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE TABLE projects (
    id bigserial PRIMARY KEY, owner_id bigint NOT NULL, name text NOT NULL,
    archived boolean NOT NULL, created_at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE TABLE analysis_sessions (
    id bigserial PRIMARY KEY, project_id bigint NOT NULL, user_id bigint NOT NULL,
    status text NOT NULL, language text NOT NULL, duration_ms int NOT NULL,
    created_at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE TABLE code_review_results (
    id bigserial PRIMARY KEY, session_id bigint NOT NULL, severity text NOT NULL,
    rule_id text NOT NULL, line int NOT NULL, created_at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY, user_id bigint NOT NULL, entity_type text NOT NULL,
    entity_id bigint NOT NULL, action text NOT NULL, created_at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
"""
# $1 = rows of analysis_sessions; the other tables scale from it.
SEED = """
SELECT setseed(0.42);
INSERT INTO users (email, plan, created_at)
SELECT 'user' || g || '@example.com',
       (ARRAY['free', 'free', 'free', 'pro', 'team'])[1 + floor(random() * 5)::int],
       timestamptz '2025-01-01' + random() * interval '365 days'
FROM generate_series(1, greatest({scale} / 50, 10)) AS g;
INSERT INTO projects (owner_id, name, archived, created_at)
SELECT 1 + floor(power(random(), 2) * greatest({scale} / 50, 10))::bigint, 'project-' || g,
       random() < 0.2, timestamptz '2025-01-01' + random() * interval '365 days'
FROM generate_series(1, greatest({scale} / 20, 10)) AS g;
INSERT INTO analysis_sessions (project_id, user_id, status, language, duration_ms, created_at)
SELECT 1 + floor(power(random(), 3) * greatest({scale} / 20, 10))::bigint,
       1 + floor(power(random(), 2) * greatest({scale} / 50, 10))::bigint,
       CASE WHEN r < 0.90 THEN 'completed' WHEN r < 0.95 THEN 'failed'
            WHEN r < 0.99 THEN 'running' ELSE 'queued' END,
       (ARRAY['python', 'javascript', 'typescript', 'go', 'java', 'rust'])
           [1 + floor(power(random(), 2) * 6)::int],
       floor(random() * 5000)::int,
       timestamptz '2025-06-01' + g * interval '1 second' * (30000000.0 / {scale})
FROM (SELECT g, random() AS r FROM generate_series(1, {scale}) AS g) AS s;
INSERT INTO code_review_results (session_id, severity, rule_id, line, created_at)
SELECT 1 + floor(random() * {scale})::bigint,
       CASE WHEN r < 0.6 THEN 'low' WHEN r < 0.85 THEN 'medium'
            WHEN r < 0.97 THEN 'high' ELSE 'critical' END,
       'R' || floor(power(random(), 2) * 200)::int, floor(random() * 2000)::int,
       timestamptz '2025-06-01' + random() * interval '347 days'
FROM (SELECT g, random() AS r FROM generate_series(1, {scale}) AS g) AS s;
INSERT INTO audit_log (user_id, entity_type, entity_id, action, created_at)
SELECT 1 + floor(power(random(), 2) * greatest({scale} / 50, 10))::bigint,
       (ARRAY['project', 'session', 'user', 'api_key'])[1 + floor(power(random(), 2) * 4)::int],
       floor(random() * {scale})::bigint,
       (ARRAY['create', 'update', 'delete', 'read', 'login'])[1 + floor(random() * 5)::int],
       timestamptz '2025-01-01' + random() * interval '700 days'
FROM generate_series(1, greatest({scale} / 2, 10)) AS g;
"""


async def create_and_seed(connection: asyncpg.Connection, sessions: int) -> None:
    """The five tables with `sessions` analysis sessions and as many findings."""
    await connection.execute(SCHEMA)
    await connection.execute(SEED.format(scale=int(sessions)))
    # As a table in steady state is: vacuumed and analyzed. Autovacuum is off
    # for these tables: the inserts' counts reach the statistics collector
    # after this ANALYZE, and an automatic one would then re-sample the
    # statistics under a run, moving plans and costs between two advice runs.
    await connection.execute("VACUUM ANALYZE")


@dataclass(frozen=True)
class Shape:
    """One query shape of the workload: its text, how often it runs, its arguments."""

    name: str
    sql: str
    calls: int
    arguments: Callable[[random.Random, int], tuple]


def _day(rng: random.Random) -> datetime:
    return datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=rng.randrange(340))


def _project(rng: random.Random, scale: int) -> int:
    return 1 + int(rng.random() ** 3 * max(scale // 20, 10))


def _user(rng: random.Random, scale: int) -> int:
    return 1 + int(rng.random() ** 2 * max(scale // 50, 10))


WORKLOAD: list[Shape] = [
    Shape(
        "dashboard: a project's sessions by status, newest first",
        "SELECT id, status, created_at FROM analysis_sessions "
        "WHERE project_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20",
        200,
        lambda r, s: (_project(r, s), r.choice(["completed", "failed", "running"])),
    ),
    Shape(
        "a project's recent sessions",
        "SELECT id, status FROM analysis_sessions WHERE project_id = $1 "
        "ORDER BY created_at DESC LIMIT 50",
        150,
        lambda r, s: (_project(r, s),),
    ),
    Shape(
        "count a project's sessions by status",
        "SELECT count(*) FROM analysis_sessions WHERE project_id = $1 AND status = $2",
        100,
        lambda r, s: (_project(r, s), "failed"),
    ),
    Shape(
        "a user's sessions in a time window",
        "SELECT id, created_at FROM analysis_sessions WHERE user_id = $1 "
        "AND created_at >= $2 AND created_at < $3",
        80,
        lambda r, s: (_user(r, s), d := _day(r), d + timedelta(days=7)),
    ),
    Shape(
        "queued work, oldest first",
        "SELECT id FROM analysis_sessions WHERE status = $1 ORDER BY created_at LIMIT 100",
        60,
        lambda r, s: ("queued",),
    ),
    Shape(
        "a session's findings by severity",
        "SELECT id, rule_id, line FROM code_review_results WHERE session_id = $1 AND severity = $2",
        300,
        lambda r, s: (1 + r.randrange(s), r.choice(["high", "critical", "low"])),
    ),
    Shape(
        "all of a session's findings",
        "SELECT id, severity, rule_id, line FROM code_review_results WHERE session_id = $1 "
        "ORDER BY line",
        200,
        lambda r, s: (1 + r.randrange(s),),
    ),
    Shape(
        "findings of a rule in a period",
        "SELECT count(*) FROM code_review_results WHERE rule_id = $1 AND created_at >= $2",
        40,
        lambda r, s: (f"R{r.randrange(200)}", _day(r)),
    ),
    Shape(
        "critical findings of a project",
        "SELECT r.id, r.rule_id FROM code_review_results r JOIN analysis_sessions s "
        "ON s.id = r.session_id WHERE s.project_id = $1 AND r.severity = 'critical'",
        50,
        lambda r, s: (_project(r, s),),
    ),
    Shape(
        "a user's projects by name",
        "SELECT id, name FROM projects WHERE owner_id = $1 ORDER BY name",
        120,
        lambda r, s: (_user(r, s),),
    ),
    Shape(
        "a user's active projects",
        "SELECT id FROM projects WHERE owner_id = $1 AND archived = false",
        80,
        lambda r, s: (_user(r, s),),
    ),
    Shape(
        "login lookup by email",
        "SELECT id, plan FROM users WHERE email = $1",
        300,
        lambda r, s: (f"user{1 + r.randrange(max(s // 50, 10))}@example.com",),
    ),
    Shape(
        "recent sign-ups on a plan",
        "SELECT id FROM users WHERE plan = $1 AND created_at >= $2",
        10,
        lambda r, s: ("team", datetime(2025, 12, 1, tzinfo=UTC)),
    ),
    Shape(
        "audit trail of an entity",
        "SELECT action, created_at FROM audit_log WHERE entity_type = $1 AND entity_id = $2 "
        "ORDER BY created_at DESC",
        100,
        lambda r, s: (r.choice(["project", "session"]), r.randrange(s)),
    ),
    Shape(
        "a user's audit actions",
        "SELECT entity_type, action FROM audit_log WHERE user_id = $1 AND action = $2",
        60,
        lambda r, s: (_user(r, s), r.choice(["login", "delete"])),
    ),
    Shape(
        "audit entries of a kind in a day",
        "SELECT count(*) FROM audit_log WHERE entity_type = $1 AND action = $2 "
        "AND created_at >= $3 AND created_at < $4",
        30,
        lambda r, s: ("api_key", "delete", d := _day(r), d + timedelta(days=1)),
    ),
    Shape(
        "slowest sessions of a language",
        "SELECT id, duration_ms FROM analysis_sessions WHERE language = $1 "
        "AND duration_ms > $2 ORDER BY duration_ms DESC LIMIT 10",
        20,
        lambda r, s: ("rust", 4900),
    ),
    Shape(
        "sessions of a project in a period",
        "SELECT count(*) FROM analysis_sessions WHERE project_id = $1 AND created_at >= $2 "
        "AND created_at < $3",
        60,
        lambda r, s: (_project(r, s), d := _day(r), d + timedelta(days=30)),
    ),
    Shape(
        "a project's failed sessions with findings",
        "SELECT s.id, count(r.id) FROM analysis_sessions s JOIN code_review_results r "
        "ON r.session_id = s.id WHERE s.project_id = $1 AND s.status = 'failed' GROUP BY s.id",
        40,
        lambda r, s: (_project(r, s),),
    ),
    Shape(
        "one session",
        "SELECT * FROM analysis_sessions WHERE id = $1",
        300,
        lambda r, s: (1 + r.randrange(s),),
    ),
    Shape(
        "record a finding (write)",
        "INSERT INTO code_review_results (session_id, severity, rule_id, line, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        100,
        lambda r, s: (1 + r.randrange(s), "low", "R1", 1, datetime(2026, 1, 1, tzinfo=UTC)),
    ),
    Shape(
        "mark a session completed (write)",
        "UPDATE analysis_sessions SET status = 'completed' WHERE id = $1",
        100,
        lambda r, s: (1 + r.randrange(s),),
    ),
]
