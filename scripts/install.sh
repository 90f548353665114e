#!/usr/bin/env bash
# Create .venv and install memchat into it (with the test extras when given "test").
# Idempotent: when pyproject.toml and constraints.txt are unchanged it returns at once.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${MEMCHAT_VENV:-$root/.venv}"
extras="${1:-}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "memchat needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

stamp="$venv/.memchat-installed${extras:+-$extras}"
want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/memchat" ]]; then
    exit 0
fi

echo "memchat: installing into $venv (the first time takes several minutes: llama.cpp is compiled)..." >&2
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
target="$root"
[[ -n "$extras" ]] && target="$root[$extras]"
"$venv/bin/python" -m pip install --progress-bar off --constraint "$root/constraints.txt" --editable "$target" >&2
"$venv/bin/python" -c "import assistant.backends.default_model as d; d.default_gguf_path()"
echo "$want" > "$stamp"
echo "memchat: installed." >&2
