"""The docs stay true to the code: the configuration page is generated, the README short."""

from pathlib import Path

from revue.devkit.config_docs import page

ROOT = Path(__file__).resolve().parents[1]


def test_the_configuration_page_is_what_the_settings_classes_say():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == page(), "docs/configuration.md is out of date: run `make docs`"


def test_every_setting_has_a_description():
    assert "|  |" not in page().replace("| --- |", "")


def test_the_readme_stays_a_short_introduction():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 160


def test_each_decision_record_has_its_parts():
    records = sorted((ROOT / "docs" / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert len(records) >= 5
    for record in records:
        text = record.read_text()
        for part in ("## Context", "## Decision", "## Consequences"):
            assert part in text, f"{record.name} lacks {part}"
