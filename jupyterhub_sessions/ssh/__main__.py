"""`python -m jupyterhub_sessions.ssh`: run the ssh hub service."""

from .app import main

if __name__ == "__main__":
    main()
