"""The QuantaTissu runtime: interpreter, sandboxes, journal, review, CLI."""
