"""jupyterhub-sessions: managed interactive sessions on a stock JupyterHub."""

__version__ = "0.1.0"
