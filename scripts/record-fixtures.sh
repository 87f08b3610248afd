#!/usr/bin/env bash
# Record what a real Prefect server returns, for the unit tests. Needs a running sandbox:
#   node bin/rehearse.js sandbox up && bash scripts/record-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(node bin/rehearse.js sandbox env | grep '^export')"
version=$(cd fixtures/hotpass && uv run prefect --version)
out="fixtures/prefect/$version"
mkdir -p "$out"
api() { curl -sf -X "$1" "$PREFECT_API_URL$2" -H 'content-type: application/json' ${3:+-d "$3"}; }
pretty() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))'; }
prefect() { (cd fixtures/hotpass && uv run prefect "$@"); }

api GET /deployments/name/hotpass-backfill/hotpass-backfill > "$out/deployment.api.json"
prefect deployment inspect hotpass-backfill/hotpass-backfill -o json > "$out/deployment.inspect.stdout" || true
prefect deployment inspect hotpass-backfill -o json > "$out/deployment.inspect.bare-name.stdout" || true
prefect deployment inspect hotpass-backfill --json > "$out/deployment.inspect.json-flag.stdout" 2>&1 || true
api GET /v2/concurrency_limits/hotpass-backfill | pretty > "$out/gcl.json"
api GET /work_pools/hotpass-backfill-pool | pretty > "$out/work-pool.api.json"
prefect work-pool inspect hotpass-backfill-pool -o json > "$out/work-pool.inspect.stdout" || true
api POST /work_pools/hotpass-backfill-pool/workers/filter '{}' | pretty > "$out/workers.json"
echo "{\"prefect\": \"$version\", \"recorded\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" > "$out/VERSION.json"
echo "recorded into $out"
