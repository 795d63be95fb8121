"""The providers a deployment asked for, built from its settings: the first, then its fallbacks.

`PROVIDER` names the first (`builtin`, `openai`, `local`); `PROVIDER_FALLBACKS`
the ones that answer, in order, when the one before cannot. Each language
model gets the packing, limits, prices and output mode of the `LLM_*`
settings; each its own token counter (its own tokenizer where known).
"""

from __future__ import annotations

import os
from dataclasses import replace

from revue.analysis.adapters.providers import Provider
from revue.analysis.adapters.providers.llm.chat import ChatOptions, ChatProvider, LocalModel
from revue.analysis.adapters.providers.llm.formats import OutputMode
from revue.analysis.adapters.providers.llm.limits import ProviderLimits
from revue.analysis.adapters.providers.llm.local_server import LocalModelServer
from revue.analysis.adapters.providers.llm.pricing import ModelPrice
from revue.analysis.settings import AnalysisSettings, FallbackEndpoint


def chat_options(settings: AnalysisSettings) -> ChatOptions:
    mode = settings.llm_response_format
    return ChatOptions(
        pack_max_items=settings.llm_pack_max_items,
        pack_max_prompt_tokens=settings.llm_pack_max_prompt_tokens,
        max_completion_tokens=settings.llm_max_completion_tokens,
        prices={
            model: ModelPrice(**price.model_dump()) for model, price in settings.llm_prices.items()
        },
        output_mode=None if mode == "auto" else OutputMode(mode),
        timeout=settings.openai_timeout,
        max_concurrency=settings.openai_max_concurrency,
    )


def builtin(settings: AnalysisSettings) -> Provider:
    from revue.analysis.adapters.providers.builtin import BuiltinProvider

    return BuiltinProvider(
        processes=settings.analysis_processes, deadline=settings.analysis_worker_deadline
    )


def local(settings: AnalysisSettings) -> Provider:
    # A model on a CPU writes a few dozen tokens a second: longer calls, shorter answers.
    options = replace(
        chat_options(settings), timeout=settings.llm_local_timeout, completion_tokens_per_item=192
    )
    server = None
    if settings.llm_local_url is None:
        server = LocalModelServer(
            settings.llm_model_path, context_tokens=settings.llm_local_context_tokens
        )
    return LocalModel(
        server,
        settings.llm_local_url,
        model_path=settings.llm_model_path,
        options=options,
        limits=ProviderLimits(settings.llm_rpm, settings.llm_tpm),
    )


def openai(settings: AnalysisSettings) -> Provider:
    if not settings.openai_base_url:
        raise ValueError("OPENAI_BASE_URL must be set when PROVIDER=openai")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return ChatProvider(
        "openai",
        settings.openai_base_url,
        settings.openai_model,
        key,
        options=chat_options(settings),
        limits=ProviderLimits(settings.llm_rpm, settings.llm_tpm),
    )


def endpoint(settings: AnalysisSettings, spec: FallbackEndpoint) -> Provider:
    key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if spec.api_key_env and not key:
        raise ValueError(f"PROVIDER_FALLBACKS names {spec.api_key_env}, which is not set")
    # Its own limits: another provider's quotas are not this one's.
    return ChatProvider(spec.name, spec.base_url, spec.model, key, options=chat_options(settings))


def provider_chain(settings: AnalysisSettings) -> list[Provider]:
    """The first provider, then each fallback, in order."""
    first = {"builtin": builtin, "openai": openai, "local": local}[settings.provider](settings)
    chain = [first]
    for spec in settings.provider_fallbacks:
        if spec == "builtin":
            chain.append(builtin(settings))
        elif spec == "local":
            chain.append(local(settings))
        else:
            chain.append(endpoint(settings, spec))
    return chain
