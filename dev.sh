#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh run    install, then start the embedded platform on http://127.0.0.1:8000
#   ./dev.sh test   install (with browser and SSH client), then run lint + the full test suite
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${JUPYTERHUB_SESSIONS_VENV:-$ROOT/.venv}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo ">> apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_base() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  # sessions of the embedded platform run in a bubblewrap sandbox (Linux)
  [ "$(uname -s)" != Linux ] || command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap
  if ! command -v configurable-http-proxy >/dev/null 2>&1; then
    echo ">> npm install -g configurable-http-proxy"
    $SUDO npm install -g --no-fund --no-audit configurable-http-proxy@5 >/dev/null
  fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
}

install_run() {
  install_base
  echo ">> pip install -e ."
  "$VENV/bin/python" -m pip install -q -e .
}

install_test() {
  install_base
  apt_install chromium openssh-client openssh-sftp-server fonts-liberation
  echo ">> pip install -e .[test]"
  "$VENV/bin/python" -m pip install -q -e ".[test]"
}

case "${1:-help}" in
  run)
    install_run
    shift
    export PATH="$VENV/bin:$PATH"
    exec jupyterhub-sessions local "$@"
    ;;
  test)
    install_test
    shift
    export PATH="$VENV/bin:$PATH"
    echo ">> ruff check + ruff format --check"
    ruff check .
    ruff format --check .
    echo ">> pytest"
    exec python -m pytest "$@"
    ;;
  install)
    install_test
    ;;
  *)
    echo "usage: ./dev.sh run|test|install" >&2
    exit 2
    ;;
esac
