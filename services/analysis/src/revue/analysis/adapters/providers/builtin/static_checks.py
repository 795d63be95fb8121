"""Lizard complexity and pattern rules for every language; runs in a worker process."""

from __future__ import annotations

from collections.abc import Sequence

import lizard

from revue.analysis.adapters.providers.builtin.patterns import match_lines
from revue.analysis.adapters.providers.builtin.security_checks import security_findings
from revue.common.contracts.events import Finding
from revue.common.contracts.languages import EXTENSIONS, RULE_GROUPS

MAX_CYCLOMATIC = 10
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 6


def complexity_findings(code: str, language: str) -> list[Finding]:
    info = lizard.analyze_file.analyze_source_code(f"input.{EXTENSIONS[language]}", code)
    found = []
    for function in info.function_list:
        name, line = function.name, function.start_line
        complexity = function.cyclomatic_complexity
        # Python's cyclomatic complexity comes from ruff's C901, which sees the AST.
        if language != "python" and complexity > MAX_CYCLOMATIC:
            severity = "high" if complexity > 2 * MAX_CYCLOMATIC else "medium"
            found.append(
                _finding(
                    "CPX001",
                    severity,
                    line,
                    f"`{name}` has cyclomatic complexity {complexity} (limit {MAX_CYCLOMATIC})",
                    "Split the function; replace nested branches with early returns.",
                )
            )
        if function.nloc > MAX_FUNCTION_LINES:
            found.append(
                _finding(
                    "CPX002",
                    "medium",
                    line,
                    f"`{name}` has {function.nloc} lines of code (limit {MAX_FUNCTION_LINES})",
                    "Extract cohesive steps into their own functions.",
                )
            )
        if function.parameter_count > MAX_PARAMETERS:
            found.append(
                _finding(
                    "CPX003",
                    "low",
                    line,
                    f"`{name}` takes {function.parameter_count} parameters"
                    f" (limit {MAX_PARAMETERS})",
                    "Group related parameters into an object.",
                )
            )
    return found


def _finding(rule_id: str, severity: str, line: int, message: str, fix_hint: str) -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=severity,  # type: ignore[arg-type]
        line=line,
        column=1,
        message=message,
        fix_hint=fix_hint,
        confidence="high",  # a measurement, not a guess
    )


def pattern_findings(code: str, language: str, groups: Sequence[str]) -> list[Finding]:
    found = []
    for rule, line, column in match_lines(code, language):
        group = "security"  # every pattern rule is a security rule
        if group in groups:
            found.append(
                Finding(
                    rule_id=rule.rule_id,
                    severity=rule.severity,  # type: ignore[arg-type]
                    line=line,
                    column=column,
                    message=rule.message,
                    fix_hint=rule.fix_hint,
                    confidence=rule.confidence,  # type: ignore[arg-type]
                    cwe=rule.cwe,
                )
            )
    return found


def check(code: str, language: str, rules: Sequence[str]) -> list[Finding]:
    groups = tuple(rules) or RULE_GROUPS
    found = pattern_findings(code, language, groups)
    if language == "python" and "security" in groups:
        found.extend(security_findings(code))
    if "complexity" in groups:
        found.extend(complexity_findings(code, language))
    return found


def check_many(items: Sequence[tuple[str, str, Sequence[str]]]) -> list[list[Finding]]:
    """One call per batch, so a batch crosses the process boundary once."""
    return [check(code, language, rules) for code, language, rules in items]
