#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh run    install, then start the embedded platform on http://127.0.0.1:8000
#   ./dev.sh test   install (with browser and SSH client), then run lint + the full test suite,
#                   in random order (pytest-randomly) on $JUPYTERHUB_SESSIONS_TEST_WORKERS
#                   pytest-xdist workers (default 2; 0 = one process)
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
  # rsync and git: tools tested over ssh; openssh-server: the sshd anchor of benchmarks/ssh_exec.py
  apt_install chromium openssh-client openssh-sftp-server openssh-server rsync git fonts-liberation
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
    workers=${JUPYTERHUB_SESSIONS_TEST_WORKERS:-2}
    # random order (pytest-randomly), the seed chosen here so it shows even with -q; the same
    # order again: JUPYTERHUB_SESSIONS_TEST_SEED=N ./dev.sh test
    seed=${JUPYTERHUB_SESSIONS_TEST_SEED:-$((RANDOM * 32768 + RANDOM))}
    pytest=(python -m pytest -p randomly -p xdist --randomly-seed="$seed")
    echo ">> pytest in random order: --randomly-seed=$seed"
    # tests marked serial (none may be) first, in one process; exit 5 = none is fine here only
    echo ">> pytest -m serial, one process"
    rc=0
    "${pytest[@]}" -n 0 -m serial "$@" || rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
    # the rest on $workers workers, each taking whole modules (--dist loadscope: a module's
    # hub and sessions are built once); pytest's exit status, 5 (no tests) included, is ours
    echo ">> pytest -m 'not serial', $workers workers"
    exec "${pytest[@]}" -n "$workers" --dist loadscope -m "not serial" "$@"
    ;;
  install)
    install_test
    ;;
  *)
    echo "usage: ./dev.sh run|test|install" >&2
    exit 2
    ;;
esac
