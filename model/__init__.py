"""TissLM: a decoder-only transformer written from scratch in NumPy."""
