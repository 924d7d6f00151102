"""Deterministic decision code that workflows and activities both use: rules, drift
statistics, run features. Imports only `contracts` and the standard library, so a
workflow may run it (it replays for free) and an activity may too, with no arrow from
activities into workflows or back."""
