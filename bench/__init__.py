"""Benchmarks (not tests): synth time and memory of the app, import paths, scale."""
