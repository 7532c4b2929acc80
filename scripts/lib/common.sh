# shellcheck shell=bash
# Shared helpers for scripts/test and .ci/run. Source, do not execute.

# Repository root (this file lives in scripts/lib/).
WB_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Where the Python venv with the SMTP sink's dependencies lives (.ci/run creates it).
wb_venv_dir() { printf '%s/workbench/venv\n' "${XDG_CACHE_HOME:-$HOME/.cache}"; }

# ci_hint PATTERN: print the .ci/run line (file:number: text) that installs what PATTERN names.
ci_hint() {
  local hit text
  hit="$(grep -n -m1 -F -- "$1" "$WB_REPO_ROOT/.ci/run" 2>/dev/null || true)"
  if [[ -n "$hit" ]]; then
    text="${hit#*:}"
    text="${text#"${text%%[![:space:]]*}"}"
    printf '.ci/run:%s: %s\n' "${hit%%:*}" "$text"
  else
    printf '.ci/run (it installs every prerequisite)\n'
  fi
}

# die_missing WHAT PATTERN: fail naming the missing tool and the .ci/run line that provides it.
die_missing() {
  printf 'error: missing %s\n  see %s\n  set everything up once with:  bash .ci/run   (as root; it ends by running scripts/test)\n' \
    "$1" "$(ci_hint "$2")" >&2
  exit 1
}

# need_cmd CMD PATTERN: CMD must be on PATH.
need_cmd() { command -v "$1" >/dev/null 2>&1 || die_missing "command '$1'" "$2"; }

# Make a rustup-installed cargo visible when ~/.cargo/bin is not on PATH.
ensure_cargo_on_path() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    PATH="$HOME/.cargo/bin:$PATH"
    export PATH
  fi
}

# tail_log TITLE FILE [LINES]: print the end of a log file, framed.
tail_log() {
  local title="$1" file="$2" lines="${3:-60}"
  [[ -s "$file" ]] || return 0
  printf '\n----- last %s lines of %s (%s) -----\n' "$lines" "$title" "$file" >&2
  tail -n "$lines" "$file" >&2 || true
  printf -- '----- end of %s -----\n' "$title" >&2
}

# stop_pid PID [NAME]: TERM, wait up to 10 s, then KILL. Never fails.
stop_pid() {
  local pid="$1" name="${2:-process}" i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# run_fg CMD...: run a long foreground command so that a signal to this script is handled at
# once (bash defers traps while it waits on a plain foreground child). The command runs in its
# own process group, which stop_fg ends as a whole (cargo's test binaries, node's workers).
FG_PID=""
run_fg() {
  local rc=0
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" &
  else
    "$@" &
  fi
  FG_PID=$!
  wait "$FG_PID" || rc=$?
  FG_PID=""
  return "$rc"
}

# stop_fg: end the command started by run_fg, if it still runs. Never fails.
stop_fg() {
  local pid="$FG_PID" i
  [[ -n "$pid" ]] || return 0
  FG_PID=""
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
