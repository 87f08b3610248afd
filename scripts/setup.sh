#!/usr/bin/env bash
# Installs everything rehearse, its sandbox and its tests need, on a fresh Debian machine
# with Node.js 20 and Python 3.11. Safe to rerun: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
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

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet uv
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  npm run --silent build
fi

# --compile-bytecode: every `uv run prefect` and every flow process imports Prefect (~1,000 modules);
# with PYTHONDONTWRITEBYTECODE set (as on these machines) nothing else would write their .pyc, and each
# start would recompile them all: about 1.5 s more per CLI call and per flow run.
say "preparing the sandbox's Python environment (fixtures/hotpass, prefect pinned in uv.lock)"
uv sync --quiet --locked --compile-bytecode --project fixtures/hotpass
say "preparing the upstream-shaped stand-in (fixtures/hotpass-upstream: Python 3.13, prefect 3.5.0)"
# From inside the directory, so pyenv's shims read its .python-version and python3.13 resolves.
(cd fixtures/hotpass-upstream && uv sync --quiet --locked --compile-bytecode)
say "preparing the test services (test/services: the moto S3 server, securesystemslib)"
uv sync --quiet --locked --compile-bytecode --project test/services
