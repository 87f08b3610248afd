#!/usr/bin/env bash
# Installs everything rehearse and its sandbox need, on a fresh Debian machine with Node.js 20
# and Python 3.11; with --tests, also what only the test suite uses (the upstream-shaped
# stand-in on Python 3.13, the test services). Safe to rerun: each step is skipped when done.
# uv's Python downloads are left to the user's setting (UV_PYTHON_DOWNLOADS; .ci/run sets never).
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    *) echo "usage: bash scripts/setup.sh [--tests]" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's chromium (for the run-page screenshot)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "chromium is missing: install it with 'sudo apt-get install chromium' (screenshots are recorded as missing until then)"
  fi
fi

# The attestation tests make a key pair with the openssl commands the README documents.
if ! command -v openssl >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing Debian's openssl (the README's key-pair commands, checked by the tests)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

# `sandbox up --database postgres` (and the end-to-end suite's staging-shaped sandbox) runs a
# PostgreSQL cluster of its own; the package's system cluster is not created, nothing uses it.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's postgresql (the sandbox's --database postgres)"
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/rehearse.conf
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    say "PostgreSQL is missing: install it with 'sudo apt-get install postgresql' (needed by sandbox up --database postgres)"
  fi
fi

# Debian's Python refuses pip installs outside a virtual environment (PEP 668): uv goes into a
# private one, found again by scripts/uv-path.sh (which the scripts after this one source too).
. scripts/uv-path.sh
if ! command -v uv >/dev/null 2>&1; then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      say "installing Debian's python3-venv (to install uv in a virtual environment of its own)"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      say "uv is missing and python3 cannot make a virtual environment: install uv (https://docs.astral.sh/uv/getting-started/installation/) or 'sudo apt-get install python3-venv', then rerun"
      exit 1
    fi
  fi
  say "installing uv into $REHEARSE_UV_VENV (a virtual environment of its own: Debian's pip refuses system-wide installs)"
  python3 -m venv "$REHEARSE_UV_VENV"
  "$REHEARSE_UV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
  export PATH="$REHEARSE_UV_VENV/bin:$PATH"
  say "uv is in $REHEARSE_UV_VENV/bin; to use it in your shell: export PATH=\"$REHEARSE_UV_VENV/bin:\$PATH\""
fi

# --compile-bytecode: every `uv run prefect` and every flow process imports Prefect (~1,000 modules);
# with PYTHONDONTWRITEBYTECODE set (as on these machines) nothing else would write their .pyc, and each
# start would recompile them all: about 1.5 s more per CLI call and per flow run.
python_envs() {
  say "preparing the sandbox's Python environment (fixtures/hotpass, prefect pinned in uv.lock)"
  uv sync --quiet --locked --compile-bytecode --project fixtures/hotpass
  if [ "$tests" = 1 ]; then
    say "preparing the upstream-shaped stand-in (fixtures/hotpass-upstream: Python 3.13, prefect 3.5.0)"
    # From inside the directory, so pyenv's shims read its .python-version and python3.13 resolves.
    (cd fixtures/hotpass-upstream && uv sync --quiet --locked --compile-bytecode)
    say "preparing the test services (test/services: the moto S3 server, securesystemslib)"
    uv sync --quiet --locked --compile-bytecode --project test/services
  fi
}
# The Python environments and the npm packages are independent: made side by side, the uv log shown after.
uv_log=$(mktemp)
python_envs > "$uv_log" 2>&1 &
uv_pid=$!
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm_ok=0; npm ci --no-audit --no-fund --loglevel=error || npm_ok=$?
else
  npm_ok=0; npm run --silent build || npm_ok=$?
fi
uv_ok=0; wait "$uv_pid" || uv_ok=$?
cat "$uv_log" >&2; rm -f "$uv_log"
[ "$npm_ok" = 0 ] || { say "npm failed (exit $npm_ok)"; exit "$npm_ok"; }
[ "$uv_ok" = 0 ] || { say "preparing the Python environments failed (exit $uv_ok)"; exit "$uv_ok"; }
