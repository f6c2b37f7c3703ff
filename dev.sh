#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh run    install, then start the embedded platform on http://127.0.0.1:8000
#   ./dev.sh test   install (with browser and SSH client), then run lint + the full test suite,
#                   in random order (pytest-randomly) on $JUPYTERHUB_SESSIONS_TEST_WORKERS
#                   pytest-xdist workers (default 2; 0 = one process)
#   ./dev.sh test-chart   the Kubernetes, service, server-extension hub, sharing and spawn-form
#                   tests again, in a second venv pinned to the Zero to JupyterHub chart's hub image
#                   (JupyterHub 5.5, KubeSpawner 7.0; Python 3.12 where this machine has it)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${JUPYTERHUB_SESSIONS_VENV:-$ROOT/.venv}
CHART_VENV=${JUPYTERHUB_SESSIONS_CHART_VENV:-$ROOT/.venv-chart}
export Z2JH_CHART_DIR=${Z2JH_CHART_DIR:-$ROOT/../shared/z2jh-4.4.0}
# what test-chart runs: the parts whose behaviour depends on the JupyterHub/KubeSpawner versions
# (kept to a few minutes: the hub-restart tests check paths, the same on every version)
CHART_TESTS=(
  tests/hub_config
  --deselect tests/hub_config/test_chart.py::test_ssh_host_key_and_keys_survive_a_hub_restart
  tests/spawner/test_kube.py
  tests/spawner/test_kube_hub.py
  tests/service/test_api.py
  tests/service/test_app.py
  tests/serverext/test_hub_e2e.py
  tests/hub
  tests/e2e/test_spawn_flow.py
  tests/dashboard
  tests/security/test_xss.py::test_hostile_session_names_are_refused_by_the_hub
  tests/ssh/test_registration.py
  tests/ssh/test_gateway.py::test_key_login_auto_starts_and_runs_in_drive
)
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

install_system() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  # sessions of the embedded platform run in a bubblewrap sandbox (Linux)
  [ "$(uname -s)" != Linux ] || command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap
  if ! command -v configurable-http-proxy >/dev/null 2>&1; then
    echo ">> npm install -g configurable-http-proxy"
    $SUDO npm install -g --no-fund --no-audit configurable-http-proxy@5 >/dev/null
  fi
}

install_base() {
  install_system
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
}

install_run() {
  install_base
  echo ">> pip install -e ."
  "$VENV/bin/python" -m pip install -q -e .
}

chart_python() {
  # the chart's hub image runs Python 3.12: use it where this machine has one, else python3
  local py
  for py in "${Z2JH_PYTHON:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if [ -n "$py" ] && "$py" -c 'import venv' >/dev/null 2>&1; then echo "$py"; return; fi
  done
  echo python3
}

install_chart() {
  local pins="$Z2JH_CHART_DIR/images/hub/requirements.txt"
  if [ ! -f "$pins" ]; then
    echo "dev.sh: no $pins; set Z2JH_CHART_DIR to the Zero to JupyterHub chart files" >&2
    exit 1
  fi
  [ -x "$CHART_VENV/bin/python" ] || "$(chart_python)" -m venv "$CHART_VENV"
  echo ">> pip install -e .[test] in $CHART_VENV, pinned to $pins"
  "$CHART_VENV/bin/python" -m pip install -q --upgrade pip
  "$CHART_VENV/bin/python" -m pip install -q -c "$pins" -e ".[test]"
}

# rsync and git: tools tested over ssh; openssh-server: the sshd anchor of benchmarks/ssh_exec.py
TEST_APT=(chromium openssh-client openssh-sftp-server openssh-server rsync git fonts-liberation)

install_test() {
  install_base
  apt_install "${TEST_APT[@]}"
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
    exec "${pytest[@]}" -n "$workers" --dist loadscope -m "not serial" --durations=25 "$@"
    ;;
  test-chart)
    install_system
    apt_install "${TEST_APT[@]}"
    install_chart
    shift
    export PATH="$CHART_VENV/bin:$PATH"
    "$CHART_VENV/bin/python" -c 'import jupyterhub, kubespawner, sys; print(">> pytest on jupyterhub", jupyterhub.__version__, "kubespawner", kubespawner.__version__, "python", sys.version.split()[0])'
    workers=${JUPYTERHUB_SESSIONS_TEST_WORKERS:-2}
    exec python -m pytest -p randomly -p xdist -n "$workers" --dist loadscope "${CHART_TESTS[@]}" "$@"
    ;;
  install)
    install_test
    ;;
  *)
    echo "usage: ./dev.sh run|test|test-chart|install" >&2
    exit 2
    ;;
esac
