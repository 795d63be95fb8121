"""Ordering and trimming of findings, so equal input always gives equal output."""

from __future__ import annotations

from revue.common.contracts.events import Finding

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


def position(finding: Finding) -> tuple[int, int, str, str]:
    return (finding.line, finding.column, finding.rule_id, finding.message)


def finalize(findings: list[Finding], max_issues: int) -> tuple[list[Finding], bool]:
    """Deduplicate, keep the `max_issues` most severe, return them in source order."""
    unique = sorted(set(findings), key=position)
    if len(unique) <= max_issues:
        return unique, False
    by_severity = sorted(unique, key=lambda f: (-SEVERITY_RANK[f.severity], *position(f)))
    return sorted(by_severity[:max_issues], key=position), True
