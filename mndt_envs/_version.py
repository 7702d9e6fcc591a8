"""The package version, in a module of its own so that the twin can read it without importing gymnasium."""

__version__ = "0.1.0"
