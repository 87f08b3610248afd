#!/usr/bin/env bash
# The README's first command: set up, start the local sandbox, rehearse against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/rehearse.js backfill --sandbox "$@"
