"""Local stand-ins for external services, for hermetic tests."""
