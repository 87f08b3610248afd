#!/usr/bin/env bash
# The backfill guardrail runbook's six steps as an operator types them, with the commands
# corrected for the real Prefect 3 CLI (-o json, FLOW/DEPLOYMENT names, the UUID line of
# `deployment run`). `npm run bench` times this script against `rehearse backfill`.
#
# Run it from the hotpass project directory with the sandbox's environment:
#   eval "$(node bin/rehearse.js sandbox env)" && cd fixtures/hotpass
#   EVIDENCE_DIR=/tmp/evidence/20240101T000000Z SHARED_DIR=/tmp/shared bash ../../bench/runbook.sh
set -euo pipefail
: "${EVIDENCE_DIR:?set EVIDENCE_DIR to the directory the evidence goes to}"
: "${SHARED_DIR:?set SHARED_DIR to the shared evidence directory}"
mkdir -p "$EVIDENCE_DIR" "$SHARED_DIR"

# 1. Render the manifests locally
uv run hotpass deploy --manifest-dir prefect/staging --flow backfill --no-upload --dry-run > "$EVIDENCE_DIR/render.log"

# 2. Inspect the deployment's guardrails
uv run prefect deployment inspect hotpass-backfill/hotpass-backfill -o json > "$EVIDENCE_DIR/deployment.json"

# 3. Trigger a bounded backfill and watch it to the end
uv run prefect deployment run hotpass-backfill/hotpass-backfill --params '{"since":"2024-01-01","until":"2024-01-07", "day_seconds": 0.2}' --watch > "$EVIDENCE_DIR/hotpass-e2e-staging.log"
FLOW_RUN_ID=$(sed -n 's/^└── UUID: \([0-9a-f-]\{36\}\)$/\1/p' "$EVIDENCE_DIR/hotpass-e2e-staging.log" | head -n 1)
test -n "$FLOW_RUN_ID"

# 4. Capture the run's metadata
uv run prefect flow-run inspect "$FLOW_RUN_ID" -o json > "$EVIDENCE_DIR/metadata.json"

# 5. Validate: export the work pool
uv run prefect work-pool inspect hotpass-backfill-pool -o json > "$EVIDENCE_DIR/work-pool.json"

# 6. File the evidence in the shared directory
cp -r "$EVIDENCE_DIR" "$SHARED_DIR/"
