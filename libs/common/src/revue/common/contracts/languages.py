"""The languages and rule groups Revue analyses.

One list for the gateway's validation and the analyzers, so that a language
or rule group the gateway accepts is always one the analyzers know.
"""

from __future__ import annotations

EXTENSIONS: dict[str, str] = {
    "python": "py",
    "javascript": "js",
    "typescript": "ts",
    "java": "java",
    "go": "go",
    "rust": "rs",
    "c": "c",
    "cpp": "cpp",
    "csharp": "cs",
    "ruby": "rb",
    "php": "php",
    "kotlin": "kt",
    "swift": "swift",
    "scala": "scala",
}
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(sorted(EXTENSIONS))
ALIASES = {"py": "python", "js": "javascript", "ts": "typescript", "c++": "cpp", "cs": "csharp"}


def normalize_language(name: str) -> str | None:
    """The canonical name for a language, or None when it is not supported."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in EXTENSIONS else None


# What a request's `rules` may name; an empty list means all of them.
RULE_GROUPS: tuple[str, ...] = ("complexity", "quality", "security")
