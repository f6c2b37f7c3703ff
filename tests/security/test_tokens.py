"""Token leakage: no API token used during the run appears in the hub's log (which also holds
the services' and sessions' output), in service responses or in session URLs.

This module runs after the other security modules (file order), so the log
holds everything they did, plus deliberate token-in-URL requests made here.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.hub


def session_tokens(hub) -> set[str]:
    """The API tokens the hub handed to running sessions (read from their environment)."""
    return {
        env["JUPYTERHUB_API_TOKEN"] for _, env in hub.session_processes() if env.get("JUPYTERHUB_API_TOKEN")
    }


def test_no_token_in_logs_responses_or_urls(hub, alice, bob):
    # tokens in query strings are a classic leak into access logs
    # (JupyterHub 5+ refuses tokens in URLs outright; refused or not, they must not be logged)
    for victim in (alice, bob):
        r = hub.request("GET", f"hub/api/user?token={victim.token}", token="")
        assert r.status_code in (200, 403), r.text
        hub.request("GET", victim.base + f"api/status?token={victim.token}", token="")
        hub.request("GET", f"services/sessions/api/sessions?token={victim.token}", token="")
        hub.request("GET", victim.base + "sessions-api/session", token=victim.token)
    hub.request("GET", "hub/api/users?token=" + hub.admin_token, token="")
    # a wrong token is not echoed either
    bogus = "f" * 32 + "0123456789abcdef" * 2
    hub.request("GET", "hub/api/user", token=bogus)
    hub.request("GET", f"services/sessions/api/sessions?token={bogus}", token="")

    tokens = {hub.admin_token, bogus, *hub._tokens.values(), *session_tokens(hub)}
    assert len(tokens) >= 4
    log = hub.log_path.read_text(errors="replace")
    assert "/hub/api/user?token=[secret]" in log  # the requests above were logged, redacted
    leaked = [t for t in tokens if t in log]
    where = [line.replace(t, t[:6] + "…")[:300] for t in leaked for line in log.splitlines() if t in line]
    assert not leaked, "tokens in the hub log:\n" + "\n".join(where[:10])

    # what the sessions API and the session API return carries no token
    for victim in (alice, bob):
        payloads = [
            hub.request("GET", "services/sessions/api/sessions", token=victim.token).text,
            hub.request("GET", victim.base + "sessions-api/session", token=victim.token).text,
            hub.api("GET", f"users/{victim.name}", token=victim.token).text,
        ]
        for text in payloads:
            assert not [t for t in tokens if t in text]
            for url in re.findall(r'"(?:url|accept_url|proxy_url)": "([^"]*)"', text):
                assert "token" not in url.lower(), url
