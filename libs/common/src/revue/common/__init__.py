"""Revue's shared library: what every service needs and no service owns.

Settings base, bus subjects and event schemas, the broker factory, telemetry,
structured logging, health and metrics endpoints, the database layer and the
embedded infrastructure stack. Services import from here; they never import
each other.
"""

__version__ = "0.1.0"
