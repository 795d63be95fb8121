"""Root conftest: every test in the repository gets the shared fixtures."""

pytest_plugins = ["revue.devkit.testing.fixtures"]
