import pytest

from revue.common.contracts.events import (
    AnalysisCompleted,
    MalformedEventError,
    RunAnalysis,
    decode_event,
)
from revue.common.contracts.subjects import BusTopology, Priority


def test_events_round_trip_with_their_schema_version():
    event = RunAnalysis(code="print(1)", language="python", rules=["security"])
    decoded = decode_event(RunAnalysis, event.model_dump_json())
    assert decoded == event
    assert decoded.schema_version == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"schema_version": 2, "code": "x", "language": "python"}', "schema_version"),
        (b'{"language": "python"}', "code"),
        (b'{"code": "", "language": "python"}', "code"),
        (b'{"code": "x", "language": "python", "max_issues": 0}', "max_issues"),
    ],
)
def test_malformed_payloads_are_refused_with_a_reason(payload, reason):
    with pytest.raises(MalformedEventError) as caught:
        decode_event(RunAnalysis, payload)
    assert reason in caught.value.reason


def test_code_over_the_limit_is_refused():
    with pytest.raises(MalformedEventError):
        decode_event(
            RunAnalysis,
            RunAnalysis.model_construct(code="x" * 1_000_001, language="python").model_dump_json(),
        )


def test_unknown_fields_are_ignored_for_forward_compatibility():
    event = decode_event(
        AnalysisCompleted,
        b'{"job_id": "7d3f1c1e-2f43-4c1e-9a53-2d7ab7b0d1aa", "status": "failed", "new": 1}',
    )
    assert event.status == "failed"


def test_topology_namespaces_subjects_and_streams():
    plain, spaced = BusTopology(), BusTopology("t1")
    assert plain.subject("analysis.run") == "analysis.run"
    assert spaced.subject("analysis.run") == "t1.analysis.run"
    assert spaced.job_subject(Priority.CRITICAL) == "t1.analysis.jobs.critical"
    assert spaced.stream("ANALYSIS_JOBS") == "t1_ANALYSIS_JOBS"
    with pytest.raises(ValueError, match="urgent"):
        plain.job_subject("urgent")
