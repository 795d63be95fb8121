"""Statement shapes from PostgreSQL's own parser: tables read and written, cacheability."""

import pytest

from revue.common.db.sql_shape import SqlShapeError, shape_ignoring_rows, shape_of


def test_reads_include_ctes_subqueries_and_schemas_but_not_cte_names():
    shape = shape_of(
        "WITH recent AS (SELECT * FROM analysis_sessions WHERE created_at > $1) "
        "SELECT count(*) FROM recent JOIN public.projects p ON p.id = recent.project_id "
        "WHERE EXISTS (SELECT 1 FROM audit.log l WHERE l.entity_id = p.id)"
    )
    assert shape.reads == {"analysis_sessions", "projects", "audit.log"}
    assert shape.writes == frozenset()
    assert shape.cacheable


def test_writes_name_their_targets_even_inside_a_cte():
    assert shape_of("UPDATE projects SET name = $1 WHERE id = $2").writes == {"projects"}
    assert shape_of("DELETE FROM users USING projects WHERE true").writes == {"users"}
    hidden = shape_of("WITH gone AS (DELETE FROM jobs RETURNING id) SELECT count(*) FROM gone")
    assert hidden.writes == {"jobs"}
    assert not hidden.cacheable


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT now()",
        "SELECT * FROM t WHERE created_at > current_timestamp - interval '1 day'",
        "SELECT random()",
        "SELECT nextval('s')",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR SHARE SKIP LOCKED",
        "SELECT * FROM pg_temp.scratch",
        "SELECT * INTO copy FROM t",
        "SELECT 1; SELECT 2",
        "INSERT INTO t VALUES (1)",
    ],
)
def test_what_may_never_be_cached(sql):
    assert not shape_of(sql).cacheable


def test_same_shape_same_fingerprint_and_a_normalized_text():
    one = shape_of("SELECT * FROM users WHERE email = 'a@example.com'")
    other = shape_of("select *  from users where email = 'b@example.com'")
    assert one.fingerprint == other.fingerprint
    assert "a@example.com" not in one.normalized
    assert one.fingerprint != shape_of("SELECT * FROM users WHERE id = 1").fingerprint


def test_text_that_does_not_parse_is_refused():
    with pytest.raises(SqlShapeError, match="syntax error"):
        shape_of("SELEC * FROM users")


def test_group_commits_of_any_row_count_share_one_shape():
    def insert(rows: int) -> str:
        groups = ", ".join(
            f"(${3 * n + 1}::UUID, ${3 * n + 2}, ${3 * n + 3}::JSONB)" for n in range(rows)
        )
        return f"INSERT INTO jobs (id, status, body) VALUES {groups} RETURNING jobs.id"

    shape_of.cache_clear()
    shapes = {shape_ignoring_rows(insert(rows)) for rows in (1, 2, 64, 512)}
    assert len(shapes) == 1
    assert shapes.pop().writes == {"jobs"}
    assert shape_of.cache_info().misses == 1  # one parse for every row count


def test_rows_holding_quotes_or_deeper_parentheses_are_parsed_as_they_are():
    quoted = "INSERT INTO notes (body) VALUES ('a, (b)'), ('c') RETURNING id"
    assert shape_ignoring_rows(quoted) == shape_of(quoted)
    nested = (
        "UPDATE jobs SET n = v.n FROM (VALUES (1, f(g(2))), (3, 4)) AS v (id, n) "
        "WHERE jobs.id = v.id"
    )
    assert shape_ignoring_rows(nested).writes == {"jobs"}
