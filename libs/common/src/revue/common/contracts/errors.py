"""The exception hierarchy shared across services.

Each concern has one root; the gateway maps them to HTTP in one place.
`retry_after_s` travels with errors that know when trying again makes sense
(a provider's Retry-After, an open circuit's remaining time).
"""

from __future__ import annotations


class RevueError(Exception):
    """Root of every error Revue raises on purpose."""

    code = "revue_error"

    def __init__(self, message: str = "", *, retry_after_s: float | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.retry_after_s = retry_after_s


class ProviderError(RevueError):
    """The analysis provider failed for this input."""

    code = "provider_error"
    retryable = False
    # What the attempts at this input cost (an events.Usage), when a model was called.
    usage: object | None = None


class RetryableProviderError(ProviderError):
    """A transient provider failure: rate limited, 5xx, timeout, unusable output."""

    code = "provider_unavailable"
    retryable = True


class ProviderRejectedError(ProviderError):
    """The provider refused the input; trying again will not help."""

    code = "provider_rejected"


class InvalidModelAnswerError(ProviderError):
    """The model's answer for this input did not validate, alone as well as packed."""

    code = "invalid_model_answer"


class AnalysisTimeoutError(ProviderError):
    """This input ran past the analysis deadline, alone: it is too costly to analyse."""

    code = "analysis_timeout"


class CircuitOpenError(RevueError):
    """The circuit breaker is open: failing fast instead of calling a sick dependency."""

    code = "circuit_open"
    retryable = True


class RetryExhaustedError(RevueError):
    """Every allowed attempt failed; carries the count and the last error."""

    code = "retry_exhausted"

    def __init__(self, attempts: int, last_error: BaseException | None) -> None:
        retry_after = getattr(last_error, "retry_after_s", None)
        super().__init__(
            f"gave up after {attempts} attempts: {last_error!r}", retry_after_s=retry_after
        )
        self.attempts = attempts
        self.last_error = last_error

    @property
    def retryable(self) -> bool:
        return bool(getattr(self.last_error, "retryable", False))
