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
    assert isinstance(provider.sampler, ParentBased)
    assert "0.25" in provider.sampler.get_description()
