"""Benchmarks (`itscam bench ...`): scripts that measure and print figures and ratios, and write them as JSON."""

__all__: list[str] = []
