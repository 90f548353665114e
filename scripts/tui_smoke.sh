#!/usr/bin/env bash
# Smoke test of the real app in a real terminal: start `memchat` in tmux on a fresh data dir,
# ask a question, wait for the answer on screen, quit with Ctrl+Q. Exits non-zero (showing the
# screen) if any step fails. MEMCHAT_SMOKE_DIR: where to put the data (default: a temp dir).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
memchat="$root/.venv/bin/memchat"
command -v tmux >/dev/null || { echo "tui_smoke: tmux is not installed" >&2; exit 2; }
[[ -x $memchat ]] || { echo "tui_smoke: $memchat not found; run scripts/install.sh" >&2; exit 2; }
work=${MEMCHAT_SMOKE_DIR:-$(mktemp -d)}
socket="memchat-smoke-$$"  # a tmux server of our own: the user's sessions are never touched
session=smoke

tmux_() { tmux -L "$socket" "$@"; }
screen() { tmux_ capture-pane -p -t "$session" 2>/dev/null || true; }
cleanup() {
    tmux_ kill-server 2>/dev/null || true
    [[ -n ${MEMCHAT_SMOKE_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "tui_smoke: $1" >&2
    echo "----- screen -----" >&2
    screen >&2
    exit 1
}

# wait_for PATTERN SECONDS: until the screen matches the extended regex PATTERN
wait_for() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        screen | grep -Eq -- "$1" && return 0
        sleep 1
    done
    return 1
}

tmux_ new-session -d -s "$session" -x 100 -y 30 \
    -e "MEMCHAT_DATA_DIR=$work/data" -e "MEMCHAT_CONFIG=$work/config.toml" \
    -e "MEMCHAT_MAX_NEW_TOKENS=24" -e "MEMCHAT_TEMPERATURE=0" -e "TERM=xterm-256color" \
    "cd '$work' && '$memchat'; echo \"memchat exited with \$?\"; sleep 60"

wait_for '/[0-9,]+ tokens' 180 || fail "the model did not load (no context size in the status bar)"
echo "tui_smoke: model loaded"
tmux_ send-keys -t "$session" -l "What is the capital of France?"
tmux_ send-keys -t "$session" Enter
wait_for 'tok/s' 180 || fail "no answer (no speed in the status bar)"
wait_for 'Paris' 5 || fail "the answer does not say Paris"
echo "tui_smoke: answered"
tmux_ send-keys -t "$session" C-q
wait_for 'memchat exited with 0' 60 || fail "memchat did not quit cleanly on Ctrl+Q"
echo "tui_smoke: ok"
