"""Revue's development kit: what running and testing the suite needs, and production does not.

    embedded/    real NATS, Redis and PostgreSQL from pip-installed binaries
    suite        `revue run`: the whole suite on one machine, supervised
    commands     the `revue run` and `revue infra` commands (added to `revue`)
    testing/     the pytest plugin (servers, per-test database, namespace, key prefix), wait_until
    standins/    local servers that speak a hosted service's wire format (an OpenAI-compatible
                 chat-completions API) for what a real local component cannot show

Production images do not install this distribution; nothing under
`revue.common` or a service's package imports it.
"""

__version__ = "0.1.0"
