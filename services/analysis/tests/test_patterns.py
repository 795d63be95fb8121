"""Every pattern rule runs in linear time: adversarial lines cost a bounded time per megabyte.

Each rule is fed 100,000-character lines built from the fragments that start
or extend its matches (a quote and `select`, ` from` over and over, an
opening backtick with no close, a keyword followed by spaces...), alone and
interleaved: the inputs on which a backtracking expression goes quadratic.
The bound is generous for a linear scan and far below what a quadratic one
needs (the old SQL rule took 11 s on one such line).
"""

import itertools
import time

import pytest

from revue.analysis.adapters.providers.builtin.patterns import RULES, match_lines

LINE = 100_000
SECONDS_PER_MEGABYTE = 2.0  # a linear rule takes milliseconds here
FRAGMENTS = [
    '"select', "'select", "`select", " from", " select ", '"', "'", "`", "${", "#{", "$x", "%s",
    "insert into ", "update t set ", "delete from ", "update ", " set", "password", " ", "=",
    ': "', '"aaaaaaa', "exec(", "exec(`", 'exec("', "(", "eval", "Command(", '"sh"', "AKIA",
    "eyJ", "aaaaaaaa.", "ghp_", "xoxb-", "-----BEGIN ", "system(", "%x{", "\\(", "+", ".",
    "\n", '"\n', "select\n", "update\n",
]  # fmt: skip


def adversarial_lines() -> list[str]:
    lines = [fragment * (LINE // len(fragment)) for fragment in FRAGMENTS]
    for first, second in itertools.permutations(['"select', " from", '"', "`", "exec(", "${"], 2):
        lines.append(first + second * ((LINE - len(first)) // len(second)))
        lines.append((first + second) * (LINE // len(first + second)))
    return lines


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_no_rule_backtracks_on_hostile_lines(rule):
    lines = adversarial_lines()
    # match_lines also searches a file's whole text once: the lines joined, newlines and all.
    texts = [*lines, "\n".join(lines), "\n".join(f"{line[:200]}\n" for line in lines)]
    started = time.process_time()
    for text in texts:
        rule.pattern.search(text)
    elapsed = time.process_time() - started
    megabytes = sum(map(len, texts)) / 1e6
    assert elapsed / megabytes < SECONDS_PER_MEGABYTE, f"{rule.name}: {elapsed:.2f} s"


def test_a_megabyte_of_hostile_javascript_is_matched_in_bounded_time():
    # Lines just under match_lines' 4,000-character cut, the worst case it scans.
    line = '"select' + " from" * 798
    code = "\n".join([line] * (1_000_000 // len(line)))
    started = time.process_time()
    match_lines(code, "javascript")
    assert time.process_time() - started < SECONDS_PER_MEGABYTE


@pytest.mark.parametrize(
    ("line", "rule_id"),
    [
        ('q = "SELECT * FROM users WHERE id = " + id;', "SQL001"),
        ("q = 'DELETE FROM t WHERE a = ' . $a;", "SQL001"),
        ("q = `SELECT name FROM users WHERE id = ${id}`;", "SQL002"),
        ('q = f"SELECT a FROM b WHERE c = {c}"', "SQL002"),
        ('q = "UPDATE users SET name = $1 WHERE id = ${id}";', "SQL002"),
    ],
)
def test_the_sql_rules_still_find_strings_built_into_sql(line, rule_id):
    assert rule_id in {rule.name for rule, _, _ in match_lines(line, "javascript")}


def test_parameterized_sql_is_not_reported():
    safe = ['db.query("SELECT * FROM users WHERE id = $1", [id]);', "q = 'SELECT 1 FROM t';"]
    for line in safe:
        assert not [r for r, _, _ in match_lines(line, "javascript") if r.name.startswith("SQL")]
