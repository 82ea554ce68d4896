#!/usr/bin/env bash
# Create .venv (Python 3.12) with spikex-plugin installed editable, and make CACTI runnable.
#   bash scripts/setup.sh          core + test tools
#   bash scripts/setup.sh train    also torch + spikingjelly (several GB: torch on 3.12 is a CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="dev"
[[ "${1:-}" == "train" ]] && extras="dev,train"
py=""
python3.12 --version >/dev/null 2>&1 && py=python3.12   # a pyenv shim may exist yet not run
if [[ -z "$py" ]] && command -v pyenv >/dev/null; then
  py=$(ls -d "$(pyenv root)"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n1 || true)
fi
[[ -n "$py" ]] || { echo "setup: Python 3.12 is required (accelforge and hwcomponents need it)" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
stamp=".venv/.installed-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
# hwcomponents-cacti ships a binary built for a newer glibc: rebuild it from its bundled source if needed.
.venv/bin/python -m spikex_plugin.hardware.cacti
