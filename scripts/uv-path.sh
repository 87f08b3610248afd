# Sourced (not run) by the scripts that use uv: when no uv is on PATH, the one scripts/setup.sh
# installed into its private virtual environment is put first on it.
REHEARSE_UV_VENV="${XDG_DATA_HOME:-$HOME/.local/share}/rehearse/uv-venv"
if ! command -v uv >/dev/null 2>&1 && [ -x "$REHEARSE_UV_VENV/bin/uv" ]; then
  export PATH="$REHEARSE_UV_VENV/bin:$PATH"
fi
