"""Workflows and the pure, deterministic decision code they call."""
