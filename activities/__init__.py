"""Activities: every side effect of aiflow (model calls, the store, configuration)."""
