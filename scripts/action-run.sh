#!/usr/bin/env bash
# The run step of this repository's GitHub Action (action.yml). The runner hands it the inputs as
# INPUT_* variables and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY as files; rehearse, run with --github,
# appends the job summary and the verdict, exit-code and bundle outputs itself. This script adds
# the two outputs when rehearse never got to say them, and exits with rehearse's own exit code.
set -uo pipefail
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: the runner gives every step an output file}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r -a command <<< "${INPUT_COMMAND:-backfill}"
args=("${command[@]}" --github)
if [[ -n "${INPUT_CONFIG:-}" ]]; then args+=(--config "$INPUT_CONFIG"); fi
if [[ -n "${INPUT_UPLOAD_TO:-}" ]]; then args+=(--to "$INPUT_UPLOAD_TO"); fi
if [[ -n "${INPUT_SIGNING_KEY_FILE:-}" ]]; then args+=(--signing-key "$INPUT_SIGNING_KEY_FILE"); fi

cd "${INPUT_WORKING_DIRECTORY:-.}" || { echo "::error title=rehearse::no directory ${INPUT_WORKING_DIRECTORY}"; exit 2; }
echo "rehearse ${args[*]}"
node "$here/bin/rehearse.js" "${args[@]}"
code=$?
# A crash (or a rehearse killed before its last words) still leaves outputs a later step can test.
grep -q '^verdict=' "$GITHUB_OUTPUT" || echo "verdict=error" >> "$GITHUB_OUTPUT"
grep -q '^exit-code=' "$GITHUB_OUTPUT" || echo "exit-code=$code" >> "$GITHUB_OUTPUT"
exit "$code"
