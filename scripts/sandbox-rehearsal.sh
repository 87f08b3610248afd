#!/usr/bin/env bash
# The README's first command: set up, start the local sandbox, rehearse against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The uv setup.sh may have installed into a virtual environment of its own.
. scripts/uv-path.sh
exec node bin/rehearse.js backfill --sandbox "$@"
