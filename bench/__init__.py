"""Benchmarks that print figures (not tests): `make bench` runs them all, `python -m bench.<name>` one."""
