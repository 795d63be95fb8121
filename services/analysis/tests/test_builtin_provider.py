"""The builtin analyzer finds exactly the expected findings in the corpus."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.common.contracts.languages import EXTENSIONS, SUPPORTED_LANGUAGES
from revue.devkit.testing.waiting import wait_until

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
LANGUAGE_OF = {extension: language for language, extension in EXTENSIONS.items()}


def sample(name: str) -> AnalysisInput:
    path = CORPUS / name
    return AnalysisInput(path.read_text(), LANGUAGE_OF[path.suffix[1:]])


def test_the_corpus_covers_every_supported_language():
    covered = {LANGUAGE_OF[Path(name).suffix[1:]] for name in EXPECTED}
    assert covered == set(SUPPORTED_LANGUAGES)


async def test_corpus_findings_are_exactly_the_expected_ones(builtin_provider):
    names = sorted(EXPECTED)
    results = await builtin_provider.analyze_batch([sample(name) for name in names])
    for name, result in zip(names, results, strict=True):
        found = [[finding.rule_id, finding.line] for finding in result.findings]
        assert found == EXPECTED[name], name
        assert result.analyzer == "revue-builtin"
        assert result.analyzer_version == builtin_provider.version


async def test_results_are_deterministic_and_independent_of_batch_company(builtin_provider):
    alone = await builtin_provider.analyze_batch([sample("sample.py")])
    together = await builtin_provider.analyze_batch(
        [sample("sample.js"), sample("sample.py"), sample("clean.py")]
    )
    assert alone[0] == together[1]


async def test_every_finding_has_position_severity_and_message(builtin_provider):
    [result] = await builtin_provider.analyze_batch([sample("sample.py")])
    by_rule = {finding.rule_id: finding for finding in result.findings}
    assert by_rule["F401"].fix_hint == "Remove unused import: `os`"
    assert (by_rule["S307"].severity, by_rule["S307"].confidence) == ("medium", "high")  # bandit's
    assert by_rule["S307"].cwe == 78
    assert by_rule["F401"].confidence == "high" and by_rule["F401"].cwe is None
    assert by_rule["S307"].line == 19
    assert by_rule["S307"].column == 12
    assert "eval" in by_rule["S307"].message or "literal_eval" in by_rule["S307"].message


async def test_unparseable_code_is_a_finding_not_a_failure(builtin_provider):
    [result] = await builtin_provider.analyze_batch([AnalysisInput("def broken(:\n", "python")])
    assert result.findings
    assert {finding.rule_id for finding in result.findings} == {"invalid-syntax"}
    assert result.findings[0].message.startswith("cannot parse")


@pytest.mark.parametrize(
    ("rules", "present", "absent"),
    [
        (("security",), {"S301", "S307", "S602", "S608"}, {"F401", "F821", "C901"}),
        (("quality",), {"F401", "F821", "F841"}, {"S301", "C901"}),
        (("complexity",), {"C901"}, {"S301", "F401"}),
    ],
)
async def test_rule_groups_select_what_is_reported(builtin_provider, rules, present, absent):
    code = (CORPUS / "sample.py").read_text()
    [result] = await builtin_provider.analyze_batch([AnalysisInput(code, "python", rules)])
    found = {finding.rule_id for finding in result.findings}
    assert present <= found
    assert not found & absent


async def test_max_issues_keeps_the_most_severe_and_says_so(builtin_provider):
    code = (CORPUS / "sample.py").read_text()
    [result] = await builtin_provider.analyze_batch([AnalysisInput(code, "python", (), 3)])
    [everything] = await builtin_provider.analyze_batch([AnalysisInput(code, "python")])
    assert result.truncated and not everything.truncated
    assert len(result.findings) == 3
    rank = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
    most_severe = sorted((rank[f.severity] for f in everything.findings), reverse=True)[:3]
    assert sorted((rank[f.severity] for f in result.findings), reverse=True) == most_severe
    assert [f.line for f in result.findings] == sorted(f.line for f in result.findings)


async def test_an_unknown_language_fails_its_item_not_the_batch(builtin_provider):
    from revue.common.contracts.errors import ProviderRejectedError

    results = await builtin_provider.analyze_batch(
        [sample("sample.py"), AnalysisInput("x", "cobol"), sample("sample.js")]
    )
    assert isinstance(results[1], ProviderRejectedError)
    assert "cobol" in results[1].message
    assert results[0].findings and results[2].findings


@pytest.mark.parametrize(
    ("code", "language", "rule_id", "cwe"),
    [
        ("const total = eval(input);\n", "javascript", "S307", 95),
        ('String q = "SELECT * FROM users WHERE id = " + id;\n', "java", "S608", 89),
        ('$out = shell_exec("ls " . $dir);\n', "php", "S605", 78),
        ('password = "hunter2-secret"\n', "ruby", "S105", 259),
        ("strcpy(buffer, input);\n", "c", "DNG011", 120),
    ],
)
async def test_other_languages_report_bandits_ids_where_the_check_is_one_of_bandits(
    builtin_provider, code, language, rule_id, cwe
):
    [result] = await builtin_provider.analyze_batch([AnalysisInput(code, language, ("security",))])
    finding = next(f for f in result.findings if f.rule_id == rule_id)
    assert finding.cwe == cwe and finding.confidence in ("low", "medium", "high")


async def test_every_security_finding_carries_confidence_and_a_weakness(builtin_provider):
    code = (CORPUS / "sample.py").read_text()
    [result] = await builtin_provider.analyze_batch([AnalysisInput(code, "python", ("security",))])
    assert result.findings
    for finding in result.findings:
        assert finding.confidence in ("low", "medium", "high"), finding
        assert finding.cwe is not None and finding.cwe > 0, finding


async def test_code_with_a_lone_surrogate_is_still_read_by_ruff(builtin_provider):
    # Valid JSON ("\ud800") but not UTF-8: the batch neither fails nor skips the file.
    code = 'label = "\ud800"\nimport pickle\nvalue = pickle.loads(data)\n'
    results = await builtin_provider.analyze_batch(
        [AnalysisInput(code, "python", ("security",)), sample("sample.py")]
    )
    assert ["S301", 3] in [[finding.rule_id, finding.line] for finding in results[0].findings]
    assert [[f.rule_id, f.line] for f in results[1].findings] == EXPECTED["sample.py"]


async def test_a_large_batch_split_across_the_workers_comes_back_in_order(builtin_provider):
    # Over SPLIT_FROM_CHARS: the static checks go in several shares; each item's own
    # finding (a hard-coded AWS key id on a line of its own) must come back to it.
    items = [
        AnalysisInput(
            f"x = {i}\n" * i + 'key = "AKIA' + "B" * 16 + '"\n' + "# padding\n" * (900 + 37 * i),
            "python",
            ("security",),
        )
        for i in range(40)
    ]
    assert sum(len(item.code) for item in items) > 256 * 1024
    results = await builtin_provider.analyze_batch(items)
    for i, result in enumerate(results):
        assert ["SEC001", i + 1] in [[f.rule_id, f.line] for f in result.findings], i


def test_folders_left_by_a_killed_process_are_removed_and_fresh_ones_kept(tmp_path):
    from revue.analysis.adapters.providers.builtin.ruff_check import (
        FOLDER_PREFIX,
        remove_stale_folders,
    )

    old, fresh, other = (tmp_path / f"{FOLDER_PREFIX}old", tmp_path / f"{FOLDER_PREFIX}new",
                         tmp_path / "someone-elses")  # fmt: skip
    for folder in (old, fresh, other):
        folder.mkdir()
        (folder / "0.py").write_text("x = 1\n")
    two_hours_ago = time.time() - 7_200
    for folder in (old, other):
        os.utime(folder, (two_hours_ago, two_hours_ago))
    assert remove_stale_folders(str(tmp_path)) == 1
    assert not old.exists() and fresh.exists() and other.exists()


def _watch_ruff(monkeypatch) -> list:
    """The ruff processes the checker starts, as they start (subprocess.Popen is patched
    for the test's length: ruff_check calls it through the module)."""
    import subprocess

    from revue.analysis.adapters.providers.builtin import ruff_check

    started: list[subprocess.Popen] = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(ruff_check.subprocess, "Popen", Recorded)
    return started


# Enough for ruff to take a few hundred milliseconds: a caller gives up while it runs.
MANY_FILES = [AnalysisInput(f"import os\nos.system(x{i})\n" * 200, "python") for i in range(1_000)]


async def test_ruff_past_its_timeout_is_killed_and_the_batch_fails_as_a_timeout(monkeypatch):
    from revue.analysis.adapters.providers.builtin.ruff_check import RuffChecker

    checker = RuffChecker(timeout=0.001)  # ruff's start alone takes longer
    started = _watch_ruff(monkeypatch)
    try:
        with pytest.raises(TimeoutError, match="ruff ran past"):
            await checker.check(MANY_FILES)
        assert len(started) == 1 and started[0].returncode == -9  # killed and reaped
    finally:
        checker.close()


async def test_a_caller_that_gives_up_takes_ruff_down_with_it(monkeypatch):
    from revue.analysis.adapters.providers.builtin.ruff_check import RuffChecker

    checker = RuffChecker()
    started = _watch_ruff(monkeypatch)
    try:
        task = asyncio.create_task(checker.check(MANY_FILES))
        await wait_until(lambda: started, interval=0.001, message="ruff started")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: started[0].poll() is not None, message="ruff gone")
        assert started[0].returncode == -9  # killed, not left to finish
        [found] = await checker.check([AnalysisInput("eval(x)\n", "python", ("security",))])
        assert [finding.rule_id for finding in found] == ["S307"]  # the next batch is served
    finally:
        checker.close()
