"""Old path of `jupyterhub_sessions.hub.platform` (hub config files may import it from here)."""

from .hub.platform import configure_platform, redact_tokens_in_logs

__all__ = ["configure_platform", "redact_tokens_in_logs"]
