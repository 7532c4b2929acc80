# shellcheck shell=bash
# shellcheck disable=SC2034 # PG_* are read by the scripts that source this file
# Throwaway PostgreSQL server for tests. Source after common.sh, do not execute.
#
#   pg_start ROOT_DIR PORT   initdb into ROOT_DIR/data, listen on 127.0.0.1:PORT, socket in ROOT_DIR
#   pg_stop                  pg_ctl stop -m immediate (safe to call more than once)
#
# As root the server runs as the 'postgres' user (PostgreSQL refuses to run as root).
# Sets PG_BIN, PG_ROOT, PG_DATA, PG_LOG, PG_PORT, PG_URL.

PG_BIN="" PG_ROOT="" PG_DATA="" PG_LOG="" PG_PORT="" PG_URL="" PG_STARTED=0

# pg_find_bin: print the newest /usr/lib/postgresql/*/bin holding pg_ctl and initdb (else PATH's).
pg_find_bin() {
  local d best
  # The glob sorts lexically (10 < 9); keep the highest major version.
  best="$(for d in /usr/lib/postgresql/*/bin; do
    if [[ -x "$d/pg_ctl" && -x "$d/initdb" && -x "$d/postgres" ]]; then printf '%s\n' "$d"; fi
  done | sort -t/ -k5,5n | tail -n1)"
  if [[ -z "$best" ]] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    best="$(dirname "$(command -v pg_ctl)")"
  fi
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# pg_as CMD...: run CMD as the server's owner, from a directory that owner can read.
pg_as() {
  if [[ $EUID -eq 0 ]]; then
    (cd "$PG_ROOT" && runuser -u postgres -- "$@")
  else
    (cd "$PG_ROOT" && "$@")
  fi
}

# pg_check_prereqs: fail with a clear message unless a server can be started.
pg_check_prereqs() {
  PG_BIN="$(pg_find_bin)" || die_missing "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)" "APT_WANTED+=(postgresql)"
  if [[ $EUID -eq 0 ]]; then
    command -v runuser >/dev/null 2>&1 || die_missing "command 'runuser' (util-linux)" "APT_WANTED+=(util-linux)"
    id -u postgres >/dev/null 2>&1 || die_missing "the 'postgres' system user (created by the postgresql package)" "APT_WANTED+=(postgresql)"
  fi
}

pg_start() {
  PG_ROOT="$1" PG_PORT="$2"
  [[ -n "$PG_BIN" ]] || pg_check_prereqs
  PG_DATA="$PG_ROOT/data"
  PG_LOG="$PG_ROOT/postgres.log"
  if [[ $EUID -eq 0 ]]; then
    chown postgres: "$PG_ROOT"
    chmod 0700 "$PG_ROOT"
    runuser -u postgres -- test -w "$PG_ROOT" ||
      die "user postgres cannot write $PG_ROOT (is a parent of TMPDIR=${TMPDIR:-/tmp} closed to other users?)"
  fi
  pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$PG_ROOT/initdb.log" 2>&1 || {
    tail_log initdb "$PG_ROOT/initdb.log"
    die "initdb failed"
  }
  cat >"$PG_DATA/pg_hba.conf" <<HBA
# Throwaway test server: trust on the unix socket and loopback only.
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
  cat >>"$PG_DATA/postgresql.conf" <<CONF

# --- scripts/lib/pg.sh: throwaway test server ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
CONF
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >"$PG_ROOT/pg_ctl.log" 2>&1 || {
    tail_log pg_ctl "$PG_ROOT/pg_ctl.log"
    tail_log postgres "$PG_LOG"
    die "PostgreSQL did not start on 127.0.0.1:$PG_PORT"
  }
  PG_STARTED=1
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_stop() {
  [[ "$PG_STARTED" == 1 ]] || return 0
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m immediate -w -t 30 >/dev/null 2>&1 ||
    warn "pg_ctl stop failed for $PG_DATA"
  PG_STARTED=0
}
