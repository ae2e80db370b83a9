"""Ready stacks composed from ``constructs_lib``, and the environment-file models."""
