import itertools

from revue.common.contracts.keys import CacheKeyGenerator

BASE = {
    "code": "def hello(): pass",
    "language": "python",
    "rules": ["security", "quality"],
    "max_issues": 100,
    "provider": "builtin",
    "model": None,
    "analyzer_version": "1",
}


def key(**changes):
    values = {**BASE, **changes}
    code, language, rules = values.pop("code"), values.pop("language"), values.pop("rules")
    return CacheKeyGenerator.generate_analysis_key(code, language, rules, **values)


def test_key_shape_is_versioned_and_hashed():
    parts = key().split(":")
    assert parts[:3] == ["ai", "analysis", "v1"]
    assert len(parts) == 5
    assert "def hello" not in key()


def test_rule_order_does_not_matter_but_everything_else_does():
    assert key(rules=["quality", "security"]) == key()
    variants = [
        key(code="def hello(): return 1"),
        key(language="javascript"),
        key(rules=["security"]),
        key(max_issues=10),
        key(provider="openai"),
        key(model="gpt-4"),
        key(analyzer_version="2"),
    ]
    for a, b in itertools.combinations([key(), *variants], 2):
        assert a != b
