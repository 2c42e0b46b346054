"""Small runnable programs using ntrvsta-async; each runs against the sandbox in the tests."""
