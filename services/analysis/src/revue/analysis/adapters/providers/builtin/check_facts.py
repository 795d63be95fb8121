"""What bandit says of each of its checks: severity, confidence and the weakness (CWE).

A finding's `rule_id` is ruff's code for the check, which is bandit's number
with `S` for `B` (bandit's `B608` is `S608`); tools that read bandit's
reports can match on it. Severity and confidence are bandit's own (low,
medium, high), so the builtin analyzer ranks a finding as bandit would;
where bandit's severity depends on the arguments (file modes, key sizes)
the usual case is taken. The CWE is the one bandit's check reports.
Sources: bandit 1.9's plugin and blacklist definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class CheckFacts:
    severity: Level
    confidence: Level
    cwe: int


L, M, H = "low", "medium", "high"

FACTS: dict[str, CheckFacts] = {
    code: CheckFacts(severity, confidence, cwe)  # type: ignore[arg-type]
    for code, severity, confidence, cwe in (
        ("S101", L, H, 703), ("S102", M, H, 78), ("S103", M, H, 732), ("S104", M, M, 605),
        ("S105", L, M, 259), ("S106", L, M, 259), ("S107", L, M, 259), ("S108", M, M, 377),
        ("S110", L, H, 703), ("S112", L, H, 703), ("S113", M, L, 400), ("S201", H, M, 94),
        ("S202", H, H, 22),
        ("S301", M, H, 502), ("S302", M, H, 502), ("S303", M, H, 327), ("S304", H, H, 327),
        ("S305", M, H, 327), ("S306", M, H, 377), ("S307", M, H, 78), ("S308", M, H, 79),
        ("S310", M, H, 22), ("S311", L, H, 330), ("S312", H, H, 319), ("S313", M, H, 20),
        ("S314", M, H, 20), ("S315", M, H, 20), ("S316", M, H, 20), ("S317", M, H, 20),
        ("S318", M, H, 20), ("S319", M, H, 20), ("S320", M, H, 20), ("S321", H, H, 319),
        ("S323", M, H, 295), ("S324", H, H, 327),
        ("S401", H, H, 319), ("S402", H, H, 319), ("S403", L, H, 502), ("S404", L, H, 78),
        ("S405", L, H, 20), ("S406", L, H, 20), ("S407", L, H, 20), ("S408", L, H, 20),
        ("S409", L, H, 20), ("S410", L, H, 20), ("S411", H, H, 20), ("S412", H, H, 284),
        ("S413", H, H, 327), ("S415", H, H, 319),
        ("S501", H, H, 295), ("S502", H, H, 327), ("S503", M, M, 327), ("S504", L, M, 327),
        ("S505", H, H, 326), ("S506", M, H, 20), ("S507", H, M, 295), ("S508", M, H, 319),
        ("S509", M, H, 319),
        ("S601", M, M, 78), ("S602", H, H, 78), ("S603", L, H, 78), ("S604", M, L, 78),
        ("S605", H, H, 78), ("S606", L, M, 78), ("S607", L, H, 78), ("S608", M, L, 89),
        ("S609", H, M, 78), ("S610", M, M, 89), ("S611", M, M, 89), ("S612", M, H, 94),
        ("S613", H, M, 838), ("S614", M, H, 502), ("S615", M, H, 494),
        ("S701", H, H, 94), ("S702", M, H, 80), ("S703", M, H, 80), ("S704", M, H, 79),
    )
}  # fmt: skip


def facts_for(rule_id: str) -> CheckFacts | None:
    return FACTS.get(rule_id)
