"""Test support shared by every service's tests and the suite tests.

`fixtures` is a pytest plugin (the root conftest loads it); `waiting` has the
`wait_until` helpers that tests use instead of sleeping.
"""
