"""Line rules for what every language can get wrong: secrets, dangerous calls, SQL by concatenation.

Data, not code: each rule names the languages it applies to, a regular
expression, a severity, a message and a fix hint. Python's dangerous calls
and hard-coded passwords are left to ruff's S rules, which see the syntax
tree; the token formats below apply to Python too, since ruff does not know
them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import re2

ALL = "*"
NOT_PYTHON = (
    "javascript", "typescript", "java", "go", "rust", "c", "cpp", "csharp",
    "ruby", "php", "kotlin", "swift", "scala",
)  # fmt: skip
JVM = ("java", "kotlin", "scala")
# Atomic: the first `from` within 500 characters is the one; a later one is never tried.
SQL_START = (
    r"(?>select\s[^\"'`\n]{0,500}?\sfrom|insert\s+into|update\s+\w{1,200}\s+set|delete\s+from)\b"
)
# What may follow a closed string literal to concatenate it with something.
SQL_TAIL = r"\s*(?:\+|\.\s*\$|\.\s*\w|%\s*\w)"


# What each pattern reports: the bandit-compatible id where the check is one of
# bandit's (S608, SQL built from strings, in any language; else the pattern's own
# name), how sure a line match is, and the weakness (CWE).
REPORTED_AS: dict[str, tuple[str | None, str, int]] = {
    "SEC001": (None, "high", 798), "SEC002": (None, "high", 798),
    "SEC003": (None, "high", 798), "SEC004": (None, "high", 798),
    "SEC005": (None, "medium", 798), "SEC006": ("S105", "medium", 259),
    "DNG001": ("S307", "high", 95), "DNG002": ("S102", "high", 95),
    "DNG003": ("S605", "medium", 78), "DNG004": ("S606", "medium", 78),
    "DNG005": ("S605", "high", 78), "DNG006": ("S605", "medium", 78),
    "DNG007": ("S605", "medium", 78), "DNG008": ("S605", "medium", 78),
    "DNG009": ("S606", "low", 78), "DNG010": ("S605", "high", 78),
    "DNG011": (None, "medium", 120), "DNG012": (None, "medium", 79),
    "SQL001": ("S608", "medium", 89), "SQL002": ("S608", "medium", 89),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PatternRule:
    name: str  # the pattern's own name (SQL001), for tests and docs
    languages: tuple[str, ...] | str
    pattern: re.Pattern[str]
    severity: str
    message: str
    fix_hint: str
    # Literal text every match contains, if any: a file without one of them is skipped
    # whole (a substring test is far cheaper than the expression on every line).
    needles: tuple[str, ...] = ()

    def applies_to(self, language: str) -> bool:
        return self.languages == ALL or language in self.languages

    @property
    def rule_id(self) -> str:
        """The id its findings carry."""
        return REPORTED_AS[self.name][0] or self.name

    @property
    def confidence(self) -> str:
        return REPORTED_AS[self.name][1]

    @property
    def cwe(self) -> int:
        return REPORTED_AS[self.name][2]


def rule(
    name: str,
    languages: tuple[str, ...] | str,
    pattern: str,
    severity: str,
    message: str,
    fix_hint: str,
    needles: tuple[str, ...] = (),
) -> PatternRule:
    return PatternRule(name, languages, re.compile(pattern), severity, message, fix_hint, needles)


VAULT = "Load it from the environment or a secret manager, and rotate the exposed value."

RULES: tuple[PatternRule, ...] = (
    # --- secrets --------------------------------------------------------------
    rule("SEC001", ALL, r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "critical",
         "AWS access key id in source", VAULT, needles=("AKIA", "ASIA")),
    rule("SEC002", ALL, r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
         "critical", "Private key in source", VAULT, needles=("PRIVATE KEY-----",)),
    rule("SEC003", ALL, r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", "critical",
         "GitHub token in source", VAULT, needles=("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    rule("SEC004", ALL, r"\bxox[baprs]-[A-Za-z0-9-]{10,}", "critical",
         "Slack token in source", VAULT, needles=("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-")),
    rule("SEC005", ALL, r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "high",
         "JSON Web Token in source", VAULT, needles=("eyJ",)),
    rule("SEC006", NOT_PYTHON,
         r"(?i)\b(?:password|passwd|pwd|secret|token|api_?key|access_?token|auth_?token)\b\s*"
         r"(?::\s*\w+\s*)?(?:=|:|=>)\s*[\"'][^\"'\s]{6,}[\"']",
         "high", "Hard-coded credential", VAULT),
    # --- dangerous calls --------------------------------------------------------
    rule("DNG001", ("javascript", "typescript", "php", "ruby"), r"(?<![\w.])eval\s*\(", "high",
         "eval() runs arbitrary code", "Parse the data instead (JSON.parse, a real parser)."),
    rule("DNG002", ("javascript", "typescript"), r"\bnew\s+Function\s*\(", "high",
         "new Function() compiles arbitrary code", "Avoid building code from strings."),
    rule("DNG003", ("javascript", "typescript"),
         r"\b(?:child_process\.)?(?:exec|execSync)\s*\(\s*(?:`[^`]*\$\{|[\"'][^\"']*[\"']\s*\+)",
         "high", "Shell command built from a string",
         "Use execFile/spawn with an argument array and no shell."),
    rule("DNG004", JVM, r"Runtime\.getRuntime\(\)\.exec\s*\(", "high",
         "Runtime.exec runs a command", "Use ProcessBuilder with a fixed argument list."),
    rule("DNG005", ("go",), r"exec\.Command(?:Context)?\s*\([^)]*\"(?:sh|bash|cmd)\"", "high",
         "Command run through a shell", "Call the program directly with separate arguments."),
    rule("DNG006", ("php",), r"(?<![\w>$])(?:shell_exec|system|passthru|exec|popen|proc_open)\s*\(",
         "high", "Shell command execution", "Use escapeshellarg, or avoid the shell."),
    rule("DNG007", ("ruby",), r"(?<![\w.])(?:system|exec|spawn)\s*\(|`[^`]*#\{|%x[({]", "high",
         "Shell command execution", "Use the array form: system('prog', arg)."),
    rule("DNG008", ("c", "cpp"), r"(?<![\w.])(?:system|popen)\s*\(", "high",
         "Shell command execution", "Use execv with a fixed argument vector."),
    rule("DNG009", ("csharp",), r"\bProcess\.Start\s*\(", "medium",
         "Process started from code", "Pass a fixed FileName and validate arguments."),
    rule("DNG010", ("rust",), r"Command::new\s*\(\s*\"(?:sh|bash|cmd)\"", "high",
         "Command run through a shell", "Run the program directly with .arg() calls."),
    rule("DNG011", ("c", "cpp"), r"(?<![\w.])(?:gets|strcpy|strcat|sprintf)\s*\(", "medium",
         "Unbounded string function", "Use fgets, strncpy/strlcpy, snprintf."),
    rule("DNG012", ("javascript", "typescript"), r"\.innerHTML\s*=|\bdocument\.write\s*\(",
         "medium", "HTML written from a string (XSS)", "Use textContent or a sanitizer."),
    # --- SQL built from strings ---------------------------------------------------
    rule("SQL001", NOT_PYTHON,
         rf"(?i)(?:\"\s*{SQL_START}[^\"\n]*+\"|'\s*{SQL_START}[^'\n]*+'){SQL_TAIL}",
         "high", "SQL built by string concatenation",
         "Use parameterized queries (placeholders bound by the driver)."),
    rule("SQL002", NOT_PYTHON,
         rf"(?i)(?:`|\$\"|@\"|f\"|\")\s*{SQL_START}[^`\"\n]*?"
         r"(?:\$\{|#\{|\{\w{0,100}\}|%[sdv]|\$[A-Za-z_]|\\\()",
         "high", "SQL built by string interpolation",
         "Use parameterized queries (placeholders bound by the driver)."),
)  # fmt: skip

COMMENT_STARTS = ("//", "/*", "*", "#", "--")


def is_comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(COMMENT_STARTS) and not stripped.startswith("#{")


def match_lines(code: str, language: str) -> list[tuple[PatternRule, int, int]]:
    """(rule, line, column) for every match, 1-based, comment lines skipped."""
    if not _may_match(code, language):
        return []
    rules = [
        r
        for r in RULES
        if r.applies_to(language) and (not r.needles or any(n in code for n in r.needles))
    ]
    if not rules:
        return []
    found = []
    for number, line in enumerate(code.splitlines(), start=1):
        if len(line) > 4_000 or is_comment(line):
            continue  # minified blobs and comments: patterns would only mislead
        for candidate in rules:
            match = candidate.pattern.search(line)
            if match:
                found.append((candidate, number, match.start() + 1))
    return found


def _may_match(code: str, language: str) -> bool:
    """False when no rule for the language can match: none of their needles is in the code."""
    needles = _needle_scan(language)
    if needles is None:
        return True
    try:
        return needles.search(code) is not None
    except UnicodeEncodeError:  # a lone surrogate cannot go to RE2: ask each rule instead
        return True


@functools.cache
def _needle_scan(language: str) -> re2._Regexp | None:
    """Every needle of the language's rules in one RE2 automaton: one pass over the code,
    where a substring test per needle makes one pass each. None where a rule has none."""
    rules = [r for r in RULES if r.applies_to(language)]
    if not rules or any(not r.needles for r in rules):
        return None
    return re2.compile("|".join(re.escape(n) for r in rules for n in r.needles))
