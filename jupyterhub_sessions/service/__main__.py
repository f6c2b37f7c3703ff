"""`python -m jupyterhub_sessions.service`: run the sessions hub service."""

from .app import main

if __name__ == "__main__":
    main()
