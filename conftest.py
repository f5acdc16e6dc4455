"""Suite-wide rules for every tier (tests/ and benchmarks/tests): see tests/README.md."""

pytest_plugins = ["tests.suite.determinism", "tests.suite.tiers", "tests.suite.confinement"]
