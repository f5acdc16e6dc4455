"""Rules for the whole test suite (every tier, tests/ and benchmarks/tests); see tests/README.md."""
