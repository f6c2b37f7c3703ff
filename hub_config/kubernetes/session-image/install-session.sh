#!/bin/sh
# The session image's install step: jupyterhub-sessions into the image's Python environment,
# then a check of what the image promises. A failed check fails the image build.
#   install-session.sh WHEEL [pip options...]
# Run by ./Dockerfile; the test suite runs this same script in a clean venv
# (tests/session_image/), since no Docker engine runs there.
set -eu
wheel=$1
shift
python -m pip install "$@" "$wheel"

# the extensions every session runs: ours, the port proxy, real-time collaboration
servers=$(jupyter server extension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
labs=$(jupyter labextension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
status=0
for ext in jupyterhub_sessions.serverext jupyter_server_proxy jupyter_server_ydoc; do
    if ! printf '%s\n' "$servers" | grep -Eq "^ +$ext enabled\$"; then
        echo "install-session.sh: server extension $ext is not enabled" >&2
        status=1
    fi
done
for ext in jupyterhub-sessions @jupyterhub/jupyter-server-proxy @jupyter/collaboration-extension; do
    if ! printf '%s\n' "$labs" | grep -Eq "^ +$ext v[^ ]+ enabled OK"; then
        echo "install-session.sh: lab extension $ext is not enabled" >&2
        status=1
    fi
done
if ! command -v jupyterhub-singleuser >/dev/null; then
    echo "install-session.sh: jupyterhub-singleuser is missing" >&2
    status=1
fi
[ "$status" = 0 ] && echo "install-session.sh: jupyterhub-sessions, jupyter-server-proxy and collaboration enabled"
exit "$status"
