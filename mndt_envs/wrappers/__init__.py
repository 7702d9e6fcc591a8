"""Wrappers: Safety-Gymnasium cost tuple and flattening helpers."""
