# shellcheck shell=bash
# Loopback networking helpers: free ports and readiness waits. Source, do not execute.

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local py port i
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1; then
      if port="$("$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null)" && [[ -n "$port" ]]; then
        printf '%s\n' "$port"
        return 0
      fi
    fi
  done
  # Fallback without Python: random high port that refuses connections.
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! port_open 127.0.0.1 "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  echo "free_port: no free port found" >&2
  return 1
}

# wait_for_port HOST PORT TIMEOUT_S [PID] [NAME]: wait until HOST:PORT accepts connections.
# Fails early if PID (when given) exits first.
wait_for_port() {
  local host="$1" port="$2" timeout="$3" pid="${4:-}" name="${5:-$1:$2}"
  local deadline=$((SECONDS + timeout))
  while ! port_open "$host" "$port"; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "wait_for_port: $name exited before listening on $host:$port" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "wait_for_port: $name did not listen on $host:$port within ${timeout}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# wait_for_log_line FILE TEXT TIMEOUT_S [PID] [NAME]: wait until FILE has a line that is TEXT.
# Fails early if PID (when given) exits first.
wait_for_log_line() {
  local file="$1" text="$2" timeout="$3" pid="${4:-}" name="${5:-$1}"
  local deadline=$((SECONDS + timeout))
  while ! grep -qxF -- "$text" "$file" 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "wait_for_log_line: $name exited before printing '$text'" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "wait_for_log_line: $name did not print '$text' within ${timeout}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# http_status URL: print the HTTP status code of a GET (000 when unreachable).
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    python3 - "$1" <<'PY' 2>/dev/null || printf '000'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status, end="")
except urllib.error.HTTPError as e:
    print(e.code, end="")
except Exception:
    print("000", end="")
PY
  fi
}

# wait_for_http URL TIMEOUT_S [PID] [NAME]: wait until GET URL returns 200.
wait_for_http() {
  local url="$1" timeout="$2" pid="${3:-}" name="${4:-$1}" code=000
  local deadline=$((SECONDS + timeout))
  while :; do
    code="$(http_status "$url")"
    [[ "$code" == 200 ]] && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "wait_for_http: $name exited before $url returned 200 (last status $code)" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "wait_for_http: $url did not return 200 within ${timeout}s (last status $code)" >&2
      return 1
    fi
    sleep 0.5
  done
}
