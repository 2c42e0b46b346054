"""Pytest plugin for testing integrations against the embedded sandbox."""
