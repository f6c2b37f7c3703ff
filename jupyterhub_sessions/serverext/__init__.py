"""Jupyter server extension run by every session (collaboration, sharing, ports)."""
