"""Other toolkits' trained enhancers, run through their own runtimes (C libraries in wheels)."""
