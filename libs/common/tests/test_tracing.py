from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from revue.common.observability.tracing import setup_tracing
from revue.common.settings import ServiceSettings


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


def test_with_no_receiver_the_helpers_pass_the_trace_on_without_spans(monkeypatch):
    from opentelemetry import trace

    from revue.common.observability import tracing as telemetry

    monkeypatch.setattr(telemetry, "_receivers", set())  # whatever other tests attached
    tracer = trace.get_tracer("test")
    incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    with telemetry.consumer_span(tracer, "s", incoming) as span:
        # The incoming trace is the current one: logs carry its ids.
        assert (
            format(span.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
        )
        with telemetry.send_span(tracer, "next") as headers:
            assert headers["traceparent"] == incoming["traceparent"]  # passed on as it came
    with telemetry.send_span(tracer, "next", parent=incoming) as headers:
        assert headers == incoming
    with telemetry.batch_span(tracer, "group", [incoming, {}]) as span:
        assert span.get_span_context().span_id == 0xB7AD6B7169203331
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left attached
