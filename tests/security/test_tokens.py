"""Token leakage: no API token used during the run appears in the hub's log (which also holds
the services' and sessions' output), in service responses or in session URLs.

The test makes every kind of token-bearing request itself (tokens in query strings, in
headers to the sessions service, the session's own API and its port proxy, an ssh login
with a token as the password, a wrong token), so it covers the same ground run alone as in
a full run; in a full run the shared hub's log also holds what other tests did, which can
only add to what is checked.
"""

from __future__ import annotations

import re

import pytest

from tests.hubtools import free_port
from tests.ssh.conftest import SSHTarget, ssh_password

pytestmark = pytest.mark.hub


def session_tokens(hub) -> set[str]:
    """The API tokens the hub handed to running sessions (read from their environment)."""
    return {
        env["JUPYTERHUB_API_TOKEN"] for _, env in hub.session_processes() if env.get("JUPYTERHUB_API_TOKEN")
    }


def use_tokens_everywhere(hub, victim, tmp_path):
    """What a user (and a careless one) does with a token, each of which the log could echo."""
    token = victim.token
    # tokens in query strings are a classic leak into access logs
    # (JupyterHub 5+ refuses tokens in URLs outright; refused or not, they must not be logged)
    r = hub.request("GET", f"hub/api/user?token={token}", token="")
    assert r.status_code in (200, 403), r.text
    hub.request("GET", victim.base + f"api/status?token={token}", token="")
    hub.request("GET", f"services/sessions/api/sessions?token={token}", token="")
    # headers: the sessions service (read, renew), the session's API, its proxy (a port nothing
    # listens on: an error path), the share links API
    sessions = f"services/sessions/api/sessions/{victim.name}/{victim.server}"
    assert hub.request("GET", sessions, token=token).status_code == 200
    assert hub.request("POST", sessions + "/renew", token=token).status_code in (200, 409)
    assert hub.request("GET", victim.base + "sessions-api/session", token=token).status_code == 200
    assert hub.request("GET", victim.base + f"proxy/{free_port()}/x", token=token).status_code >= 400
    r = hub.request("POST", victim.base + "sessions-api/share-codes", token=token, json={"expires_in": 60})
    assert r.status_code == 201, r.text
    # the token typed as an ssh password: accepted, and the gateway logs the login
    port = hub.request("GET", "services/ssh/api/info", token=token).json()["port"]
    r = ssh_password(SSHTarget(port), f"{victim.name}+{victim.server}", token, "echo token-ok", tmp_path)
    assert r.returncode == 0 and r.stdout == b"token-ok\n", r.stderr


def test_no_token_in_logs_responses_or_urls(hub, alice, bob, tmp_path):
    for victim in (alice, bob):
        use_tokens_everywhere(hub, victim, tmp_path)
    hub.request("GET", "hub/api/users?token=" + hub.admin_token, token="")
    # a wrong token is not echoed either
    bogus = "f" * 32 + "0123456789abcdef" * 2
    hub.request("GET", "hub/api/user", token=bogus)
    hub.request("GET", f"services/sessions/api/sessions?token={bogus}", token="")
    port = hub.request("GET", "services/ssh/api/info", token=alice.token).json()["port"]
    r = ssh_password(SSHTarget(port), f"{alice.name}+{alice.server}", bogus, "echo in", tmp_path)
    assert r.returncode == 255

    tokens = {hub.admin_token, bogus, *hub._tokens.values(), *session_tokens(hub)}
    assert {alice.token, bob.token} <= tokens and len(session_tokens(hub)) >= 2
    log = hub.log_path.read_text(errors="replace")
    # the requests above were logged (redacted): the check below looks at a log that has them
    assert "/hub/api/user?token=[secret]" in log
    assert f"ssh: {alice.name} logged in to" in log and "ssh: refused token login for" in log
    leaked = [t for t in tokens if t in log]
    where = [line.replace(t, t[:6] + "…")[:300] for t in leaked for line in log.splitlines() if t in line]
    assert not leaked, "tokens in the hub log:\n" + "\n".join(where[:10])

    # what the sessions API and the session API return carries no token
    for victim in (alice, bob):
        payloads = [
            hub.request("GET", "services/sessions/api/sessions", token=victim.token).text,
            hub.request("GET", victim.base + "sessions-api/session", token=victim.token).text,
            hub.request("GET", victim.base + "sessions-api/shares", token=victim.token).text,
            hub.api("GET", f"users/{victim.name}", token=victim.token).text,
        ]
        for text in payloads:
            assert not [t for t in tokens if t in text]
            for url in re.findall(r'"(?:url|accept_url|proxy_url)": "([^"]*)"', text):
                assert "token" not in url.lower(), url
