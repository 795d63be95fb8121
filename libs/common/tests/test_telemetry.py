from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from revue.common.settings import ServiceSettings
from revue.common.telemetry import setup_tracing


def test_provider_carries_the_service_resource_and_parent_based_sampling():
    settings = ServiceSettings(otel_service_name="revue-x", otel_traces_sampler_arg=0.25)
    provider = setup_tracing(settings, set_global=False)
    attributes = provider.resource.attributes
    assert attributes["service.name"] == "revue-x"
    assert attributes["service.namespace"] == "revue"
    assert attributes["service.version"] == settings.service_version
    assert isinstance(provider.sampler.inner, ParentBased)
    assert "0.25" in provider.sampler.get_description()


def test_spans_are_recorded_only_once_something_receives_them():
    provider = setup_tracing(ServiceSettings(), set_global=False)
    tracer = provider.get_tracer("test")
    unreceived = tracer.start_span("before")
    context = unreceived.get_span_context()
    assert not unreceived.is_recording()
    assert context.trace_id and context.span_id  # logs and the next hop still get ids
    assert not context.trace_flags.sampled
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer.start_as_current_span("after") as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["after"]
