#!/usr/bin/env bash
# Real servers for Weft's tests: installs them (cached outside the clone),
# starts, stops and reports them. Everything binds to 127.0.0.1.
#
#   bash tests/testbeds.sh start    # install if needed, start, smoke-check
#   bash tests/testbeds.sh stop     # stop what this script started
#   bash tests/testbeds.sh status   # what runs (exit 0 only if all run)
#   eval "$(bash tests/testbeds.sh env)"   # WEFT_TEST_* variables for tests
#
# Servers:
#   LiteLLM proxy (OpenAI-compatible, mock models only, no network) on
#     127.0.0.1:${WEFT_TEST_LITELLM_PORT:-4000}
#   a deterministic embeddings server (tests/testbeds/embedder.py: hashed
#     bag of words, one vector per input, standard library only) on
#     127.0.0.1:${WEFT_TEST_EMBEDDER_PORT:-4001}; LiteLLM's model
#     `hash-embed` routes to it
#   PostgreSQL 16 + pgvector (from the `pgserver` wheel) on
#     127.0.0.1:${WEFT_TEST_PGVECTOR_PORT:-5433}
#   moto (a local AWS: DynamoDB for the router's route store) on
#     127.0.0.1:${WEFT_TEST_MOTO_PORT:-5005}
# Not a server: a venv with the pinned packages of tests/python/
#   requirements.txt, whose python (WEFT_TEST_PYTHON) runs the editor
#   protocol's conformance client (api/tests/conformance.rs).
# The machine's own PostgreSQL on 127.0.0.1:5432 is not managed here; `env`
# only points the tests at it. The pid file and data directory do not depend
# on the ports: for a second, independent set use another WEFT_TESTBEDS_DIR.
#
# Cache: ${WEFT_TESTBEDS_DIR:-$HOME/.cache/weft-testbeds}; runtime state
# (pid files, logs, data) under its run/ directory.
set -euo pipefail
umask 022

# Pinned so that every machine and CI run gets the same servers. Changing a
# pin reinstalls that venv on the next `start`.
LITELLM_SPEC='litellm[proxy]==1.106.2'
PGSERVER_SPEC='pgserver==0.1.4'
MOTO_SPEC='moto[server]==5.2.5'

CACHE="${WEFT_TESTBEDS_DIR:-$HOME/.cache/weft-testbeds}"
RUN="$CACHE/run"
PYTHON="${WEFT_TESTBEDS_PYTHON:-python3}"

LITELLM_VENV="$CACHE/litellm-venv"
LITELLM_PORT="${WEFT_TEST_LITELLM_PORT:-4000}"
LITELLM_KEY="sk-weft-test"
LITELLM_URL="http://127.0.0.1:$LITELLM_PORT"
LITELLM_CONFIG="$RUN/litellm.yaml"
LITELLM_PIDFILE="$RUN/litellm.pid"
LITELLM_LOG="$RUN/litellm.log"
LITELLM_READY_TIMEOUT=120

# The embedder runs from a copy under $RUN, so that a changed script
# restarts it (as a changed LiteLLM config restarts LiteLLM).
EMBEDDER_SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbeds/embedder.py"
EMBEDDER_PORT="${WEFT_TEST_EMBEDDER_PORT:-4001}"
EMBEDDER_URL="http://127.0.0.1:$EMBEDDER_PORT"
EMBEDDER_SCRIPT="$RUN/embedder.py"
EMBEDDER_PIDFILE="$RUN/embedder.pid"
EMBEDDER_LOG="$RUN/embedder.log"
EMBEDDER_DIMENSIONS=256
EMBEDDER_READY_TIMEOUT=30

# The venv is reinstalled when the requirements' pins change.
PYCLIENT_REQUIREMENTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/python/requirements.txt"
PYCLIENT_VENV="$CACHE/pyclient-venv"

PG_VENV="$CACHE/pg-venv"
PG_PORT="${WEFT_TEST_PGVECTOR_PORT:-5433}"
PG_DATA="$RUN/pgdata"
PG_INITDONE="$RUN/pgdata.initialized"
PG_LOG="$RUN/pgvector.log"
PG_SYSTEM_USER="pgserver"

MOTO_VENV="$CACHE/moto-venv"
MOTO_PORT="${WEFT_TEST_MOTO_PORT:-5005}"
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
# moto runs through tests/testbeds/moto_serial.py (one request at a time, so
# that its DynamoDB transactions are isolated as the real service's are),
# from a copy under $RUN so that a changed wrapper restarts it.
MOTO_SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbeds/moto_serial.py"
MOTO_SCRIPT="$RUN/moto_serial.py"
MOTO_PIDFILE="$RUN/moto.pid"
MOTO_LOG="$RUN/moto.log"
MOTO_READY_TIMEOUT=60

SYSTEM_PG_URL="${WEFT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { printf 'testbeds: %s\n' "$*"; }
warn() { printf 'testbeds: %s\n' "$*" >&2; }
die() {
  warn "error: $*"
  exit 1
}

usage() {
  cat >&2 <<EOF
usage: bash tests/testbeds.sh start|stop|status|env
  start   install (cached in $CACHE) and start the embedder, LiteLLM, pgvector and
          moto; install the Python client venv
  stop    stop them (safe when nothing runs)
  status  print what runs; exit 0 only if all run
  env     print export lines for the tests (eval "\$(... env)")
EOF
  exit 2
}

# The pid in PIDFILE, if that process is still ours: its command line holds
# NEEDLE (a guard against a reused pid).
pid_in() {
  local pidfile=$1 needle=$2 pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$needle" || return 1
  printf '%s\n' "$pid"
}

# Stops server NAME (its pid from the function PIDFN): SIGTERM, then
# SIGKILL after WAIT seconds; removes PIDFILE.
stop_managed() {
  local name=$1 pidfn=$2 pidfile=$3 wait=$4 pid
  if ! pid="$("$pidfn")"; then
    rm -f "$pidfile"
    say "$name: not running"
    return 0
  fi
  say "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((wait * 4))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name: pid $pid ignored SIGTERM for $wait s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "$name: stopped"
}

# One start/stop at a time (a CI run and a local run may overlap). The
# servers are started with fd 9 closed so that they do not hold the lock.
lock() {
  mkdir -p "$RUN"
  exec 9>"$RUN/.lock"
  if ! flock -n 9; then
    say "waiting for another testbeds.sh to finish (lock $RUN/.lock)"
    flock -w 1200 9 || die "timed out waiting for $RUN/.lock"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if the venv at `$1` holds a finished install of `$2`. The marker is
# written last, so an interrupted install counts as missing and is redone.
venv_ok() { [[ -f "$1/.weft-installed" && "$(cat "$1/.weft-installed")" == "$2" ]]; }

# Installs `$2` into a fresh venv at `$1` unless it is already there.
ensure_venv() {
  local venv="$1" spec="$2" name="$3" marker="$1/.weft-installed"
  venv_ok "$venv" "$spec" && return 0
  local log="$RUN/install-$name.log" t0=$SECONDS
  say "installing $spec into $venv (log: $log)"
  rm -rf "$venv"
  if ! { "$PYTHON" -m venv "$venv" &&
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input "$spec"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "installing $spec failed (full log: $log)"
  fi
  "$venv/bin/python" -m pip freeze --disable-pip-version-check >"$venv/.weft-freeze.txt" 2>/dev/null || true
  printf '%s\n' "$spec" >"$marker"
  say "installed $spec in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- LiteLLM

write_litellm_config() {
  local vec384
  # A 384-dimension mock embedding: element i (0-based) is (i + 1) / 1000.
  vec384="$(awk 'BEGIN { for (i = 1; i <= 384; i++) printf "%s%.3f", (i > 1 ? ", " : ""), i / 1000 }')"
  cat <<EOF
# Written by tests/testbeds.sh; edits are overwritten on the next start.
# Every model answers from mock_response: no provider, no network.
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-fake
      mock_response: "Hello from the LiteLLM mock"
  - model_name: mock-embed
    litellm_params:
      model: openai/text-embedding-3-small
      api_key: sk-fake
      mock_response: [0.1, 0.2, 0.3, 0.4]
    model_info:
      mode: embedding
  # 384 dimensions; element i (0-based) is (i + 1) / 1000.
  - model_name: mock-embed-384
    litellm_params:
      model: openai/text-embedding-3-small
      api_key: sk-fake
      mock_response: [$vec384]
    model_info:
      mode: embedding
  # One vector per input from tests/testbeds/embedder.py: a hashed bag of
  # words ($EMBEDDER_DIMENSIONS dimensions), so that texts sharing words are close.
  - model_name: hash-embed
    litellm_params:
      model: openai/hash-embed
      api_key: sk-fake
      api_base: $EMBEDDER_URL/v1
    model_info:
      mode: embedding
litellm_settings:
  telemetry: false
general_settings:
  disable_spend_logs: true
EOF
}

litellm_pid() { pid_in "$LITELLM_PIDFILE" "$LITELLM_VENV/bin/litellm"; }

litellm_healthy() {
  curl -fsS --max-time 5 "$LITELLM_URL/health/liveliness" >/dev/null 2>&1 &&
    curl -fsS --max-time 10 -H "Authorization: Bearer $LITELLM_KEY" "$LITELLM_URL/v1/models" 2>/dev/null |
    grep -q '"mock-gpt"'
}

litellm_stop() { stop_managed litellm litellm_pid "$LITELLM_PIDFILE" 20; }

litellm_smoke() {
  local python="$LITELLM_VENV/bin/python" out
  out="$(curl -fsS --max-time 30 "$LITELLM_URL/v1/chat/completions" \
    -H "Authorization: Bearer $LITELLM_KEY" -H 'Content-Type: application/json' \
    -d '{"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}')" ||
    die "litellm: chat completion request failed (log: $LITELLM_LOG)"
  "$python" -c 'import json, sys; assert json.load(sys.stdin)["choices"][0]["message"]["content"] == "Hello from the LiteLLM mock"' <<<"$out" ||
    die "litellm: unexpected chat completion: $out"
  for model_dim in mock-embed:4 mock-embed-384:384; do
    out="$(curl -fsS --max-time 30 "$LITELLM_URL/v1/embeddings" \
      -H "Authorization: Bearer $LITELLM_KEY" -H 'Content-Type: application/json' \
      -d "{\"model\": \"${model_dim%%:*}\", \"input\": \"hi\"}")" ||
      die "litellm: embedding request to ${model_dim%%:*} failed (log: $LITELLM_LOG)"
    "$python" -c 'import json, sys; assert len(json.load(sys.stdin)["data"][0]["embedding"]) == int(sys.argv[1])' \
      "${model_dim#*:}" <<<"$out" ||
      die "litellm: ${model_dim%%:*} did not return ${model_dim#*:} dimensions: ${out:0:300}"
  done
  # A batch through LiteLLM to the embedder: one distinct vector per input.
  out="$(curl -fsS --max-time 30 "$LITELLM_URL/v1/embeddings" \
    -H "Authorization: Bearer $LITELLM_KEY" -H 'Content-Type: application/json' \
    -d '{"model": "hash-embed", "input": ["bees make honey", "stars are far", "bees"]}')" ||
    die "litellm: embedding request to hash-embed failed (logs: $LITELLM_LOG, $EMBEDDER_LOG)"
  embedder_check_batch "$python" "$out" ||
    die "litellm: hash-embed did not return 3 distinct $EMBEDDER_DIMENSIONS-dimension vectors: ${out:0:300}"
}

litellm_start() {
  if ! venv_ok "$LITELLM_VENV" "$LITELLM_SPEC"; then
    litellm_stop # never reinstall under a running server
    ensure_venv "$LITELLM_VENV" "$LITELLM_SPEC" litellm
  fi

  local config_new="$LITELLM_CONFIG.new" pid
  write_litellm_config >"$config_new"
  if pid="$(litellm_pid)"; then
    if cmp -s "$config_new" "$LITELLM_CONFIG" && litellm_healthy; then
      rm -f "$config_new"
      say "litellm: already running (pid $pid) on $LITELLM_URL"
      return 0
    fi
    say "litellm: running but unhealthy or with an old config; restarting"
    litellm_stop
  fi
  mv "$config_new" "$LITELLM_CONFIG"

  if port_open "$LITELLM_PORT"; then
    die "port 127.0.0.1:$LITELLM_PORT is taken by another process; stop it or set WEFT_TEST_LITELLM_PORT"
  fi

  say "litellm: starting on $LITELLM_URL (log: $LITELLM_LOG)"
  local t0=$SECONDS
  # DATABASE_URL unset so that the proxy never tries to use a database.
  env -u DATABASE_URL \
    LITELLM_MASTER_KEY="$LITELLM_KEY" \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    nohup "$LITELLM_VENV/bin/litellm" --config "$LITELLM_CONFIG" \
    --host 127.0.0.1 --port "$LITELLM_PORT" >"$LITELLM_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$LITELLM_PIDFILE"
  pid=$!

  while ! litellm_healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LITELLM_LOG" >&2
      rm -f "$LITELLM_PIDFILE"
      die "litellm exited during startup (log above: $LITELLM_LOG)"
    fi
    if ((SECONDS - t0 >= LITELLM_READY_TIMEOUT)); then
      tail -n 40 "$LITELLM_LOG" >&2
      litellm_stop
      die "litellm not ready after $LITELLM_READY_TIMEOUT s (log above: $LITELLM_LOG)"
    fi
    sleep 1
  done
  litellm_smoke
  say "litellm: ready in $((SECONDS - t0)) s (pid $pid)"
}

# --------------------------------------------------------------- embedder

embedder_pid() { pid_in "$EMBEDDER_PIDFILE" "$EMBEDDER_SCRIPT"; }

embedder_healthy() {
  curl -fsS --max-time 5 "$EMBEDDER_URL/health" 2>/dev/null | grep -q '"status": "ok"'
}

# Whether the embeddings answer `$2` holds 3 distinct vectors of
# EMBEDDER_DIMENSIONS numbers, each of norm 1 (checked with python `$1`).
embedder_check_batch() {
  "$1" -c '
import json, math, sys
data = json.loads(sys.argv[1])["data"]
vectors = [d["embedding"] for d in sorted(data, key=lambda d: d["index"])]
assert len(vectors) == 3, len(vectors)
assert all(len(v) == int(sys.argv[2]) for v in vectors)
assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in vectors)
assert len({tuple(v) for v in vectors}) == 3, "vectors repeat"
' "$2" "$EMBEDDER_DIMENSIONS"
}

embedder_stop() { stop_managed embedder embedder_pid "$EMBEDDER_PIDFILE" 5; }

embedder_start() {
  [[ -f "$EMBEDDER_SOURCE" ]] || die "embedder: $EMBEDDER_SOURCE not found"
  local pid out
  if pid="$(embedder_pid)"; then
    if cmp -s "$EMBEDDER_SOURCE" "$EMBEDDER_SCRIPT" && embedder_healthy; then
      say "embedder: already running (pid $pid) on $EMBEDDER_URL"
      return 0
    fi
    say "embedder: running but unhealthy or an old version; restarting"
    embedder_stop
  fi
  cp "$EMBEDDER_SOURCE" "$EMBEDDER_SCRIPT"

  if port_open "$EMBEDDER_PORT"; then
    die "port 127.0.0.1:$EMBEDDER_PORT is taken by another process; stop it or set WEFT_TEST_EMBEDDER_PORT"
  fi

  say "embedder: starting on $EMBEDDER_URL (log: $EMBEDDER_LOG)"
  local t0=$SECONDS
  nohup "$PYTHON" "$EMBEDDER_SCRIPT" --host 127.0.0.1 --port "$EMBEDDER_PORT" \
    --dimensions "$EMBEDDER_DIMENSIONS" >"$EMBEDDER_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$EMBEDDER_PIDFILE"
  pid=$!

  while ! embedder_healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$EMBEDDER_LOG" >&2
      rm -f "$EMBEDDER_PIDFILE"
      die "embedder exited during startup (log above: $EMBEDDER_LOG)"
    fi
    if ((SECONDS - t0 >= EMBEDDER_READY_TIMEOUT)); then
      tail -n 20 "$EMBEDDER_LOG" >&2
      embedder_stop
      die "embedder not ready after $EMBEDDER_READY_TIMEOUT s (log above: $EMBEDDER_LOG)"
    fi
    sleep 0.2
  done
  out="$(curl -fsS --max-time 10 "$EMBEDDER_URL/v1/embeddings" -H 'Content-Type: application/json' \
    -d '{"model": "hash-embed", "input": ["bees make honey", "stars are far", "bees"], "encoding_format": "base64"}')" ||
    die "embedder: embedding request failed (log: $EMBEDDER_LOG)"
  "$PYTHON" -c '
import base64, json, sys
d = json.loads(sys.argv[1])["data"]
assert len(d) == 3 and all(len(base64.b64decode(x["embedding"])) == 4 * int(sys.argv[2]) for x in d)
' "$out" "$EMBEDDER_DIMENSIONS" || die "embedder: unexpected base64 answer: ${out:0:300}"
  say "embedder: ready in $((SECONDS - t0)) s (pid $pid)"
}

# --------------------------------------------------------------- pgvector

pg_bin() {
  local d
  for d in "$PG_VENV"/lib/python3*/site-packages/pgserver/pginstall/bin; do
    [[ -x "$d/pg_ctl" ]] && {
      printf '%s\n' "$d"
      return 0
    }
  done
  return 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# PostgreSQL refuses to run as root: as root, run its programs as the
# `pgserver` system user (the name the pgserver package itself uses).
as_pg() {
  if is_root; then
    runuser -u "$PG_SYSTEM_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_pg_user() {
  is_root || return 0
  if ! id -u "$PG_SYSTEM_USER" >/dev/null 2>&1; then
    say "pgvector: creating system user $PG_SYSTEM_USER (PostgreSQL does not run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_SYSTEM_USER"
  fi
  # The server must reach its binaries and data under $CACHE. If a parent
  # directory (typically a 0700 $HOME) blocks it, allow traversal only:
  # an ACL entry for that one user if setfacl exists, else o+x.
  local dir="$CACHE" dirs=() i
  while [[ "$dir" != "/" ]]; do
    dirs+=("$dir")
    dir="$(dirname "$dir")"
  done
  # From the top down, so that each check sees its parents already fixed.
  for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
    dir="${dirs[i]}"
    runuser -u "$PG_SYSTEM_USER" -- test -x "$dir" && continue
    if command -v setfacl >/dev/null; then
      say "pgvector: granting $PG_SYSTEM_USER traversal of $dir (setfacl u:$PG_SYSTEM_USER:x)"
      setfacl -m "u:$PG_SYSTEM_USER:x" "$dir"
    else
      say "pgvector: granting traversal of $dir to other users (chmod o+x; listing stays private)"
      chmod o+x "$dir"
    fi
  done
}

pg_running() {
  local bin
  bin="$(pg_bin)" || return 1
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_psql() {
  local bin
  bin="$(pg_bin)"
  "$bin/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At -v ON_ERROR_STOP=1 "$@"
}

pg_vector_version() {
  # shellcheck disable=SC2016 # $$ is SQL dollar quoting
  pg_psql -c 'set client_min_messages = warning' -c 'create extension if not exists vector' \
    -c 'select extversion from pg_extension where extname = $$vector$$'
}

pg_start() {
  if ! venv_ok "$PG_VENV" "$PGSERVER_SPEC"; then
    pg_stop # never reinstall under a running server
    ensure_venv "$PG_VENV" "$PGSERVER_SPEC" pgserver
  fi
  local bin
  bin="$(pg_bin)" || die "pgserver's PostgreSQL binaries not found under $PG_VENV"
  ensure_pg_user

  if pg_running; then
    say "pgvector: already running on 127.0.0.1:$PG_PORT"
    pg_vector_version >/dev/null || die "pgvector: running but 'create extension vector' fails (log: $PG_LOG)"
    return 0
  fi

  if [[ ! -f "$PG_INITDONE" ]]; then
    say "pgvector: initdb $PG_DATA"
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA"
    is_root && chown "$PG_SYSTEM_USER:" "$PG_DATA"
    chmod 700 "$PG_DATA"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      >"$RUN/initdb.log" 2>&1 || {
      tail -n 30 "$RUN/initdb.log" >&2
      die "initdb failed (log: $RUN/initdb.log)"
    }
    touch "$PG_INITDONE"
  fi

  if port_open "$PG_PORT"; then
    die "port 127.0.0.1:$PG_PORT is taken by another process; stop it or set WEFT_TEST_PGVECTOR_PORT"
  fi

  say "pgvector: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  local t0=$SECONDS
  touch "$PG_LOG"
  is_root && chown "$PG_SYSTEM_USER:" "$PG_LOG"
  # -k: the Unix socket goes into the data directory, not /var/run/postgresql
  # (which belongs to the machine's own PostgreSQL).
  if ! as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
    -o "-h 127.0.0.1 -p $PG_PORT -k '$PG_DATA'" start >/dev/null 9>&-; then
    tail -n 30 "$PG_LOG" >&2
    die "pgvector: pg_ctl start failed (log above: $PG_LOG)"
  fi
  local version
  version="$(pg_vector_version)" || die "pgvector: 'create extension vector' failed (log: $PG_LOG)"
  say "pgvector: ready in $((SECONDS - t0)) s (PostgreSQL $(pg_psql -c 'show server_version'), vector $version)"
}

pg_stop() {
  local bin
  if ! pg_running; then
    say "pgvector: not running"
    return 0
  fi
  bin="$(pg_bin)"
  say "pgvector: stopping"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  say "pgvector: stopped"
}

# ------------------------------------------------------------------- moto

# Matches the wrapper and an older plain moto_server alike (to stop it).
moto_pid() { pid_in "$MOTO_PIDFILE" "moto"; }

# A DynamoDB ListTables call answers (moto takes any signature; this
# dummy one names the region).
moto_healthy() {
  curl -fsS --max-time 5 "$MOTO_URL/" -X POST \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=weft/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' 2>/dev/null | grep -q '"TableNames"'
}

moto_stop() { stop_managed moto moto_pid "$MOTO_PIDFILE" 5; }

moto_start() {
  if ! venv_ok "$MOTO_VENV" "$MOTO_SPEC"; then
    moto_stop # never reinstall under a running server
    ensure_venv "$MOTO_VENV" "$MOTO_SPEC" moto
  fi
  [[ -f "$MOTO_SOURCE" ]] || die "moto: $MOTO_SOURCE not found"
  local pid
  if pid="$(moto_pid)"; then
    if cmp -s "$MOTO_SOURCE" "$MOTO_SCRIPT" && pid_in "$MOTO_PIDFILE" "$MOTO_SCRIPT" >/dev/null &&
      moto_healthy; then
      say "moto: already running (pid $pid) on $MOTO_URL"
      return 0
    fi
    say "moto: running but unhealthy or an old version; restarting"
    moto_stop
  fi
  cp "$MOTO_SOURCE" "$MOTO_SCRIPT"

  if port_open "$MOTO_PORT"; then
    die "port 127.0.0.1:$MOTO_PORT is taken by another process; stop it or set WEFT_TEST_MOTO_PORT"
  fi

  say "moto: starting on $MOTO_URL (log: $MOTO_LOG)"
  local t0=$SECONDS
  nohup "$MOTO_VENV/bin/python" "$MOTO_SCRIPT" -H 127.0.0.1 -p "$MOTO_PORT" \
    >"$MOTO_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$MOTO_PIDFILE"
  pid=$!

  while ! moto_healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$MOTO_LOG" >&2
      rm -f "$MOTO_PIDFILE"
      die "moto exited during startup (log above: $MOTO_LOG)"
    fi
    if ((SECONDS - t0 >= MOTO_READY_TIMEOUT)); then
      tail -n 20 "$MOTO_LOG" >&2
      moto_stop
      die "moto not ready after $MOTO_READY_TIMEOUT s (log above: $MOTO_LOG)"
    fi
    sleep 0.2
  done
  say "moto: ready in $((SECONDS - t0)) s (pid $pid)"
}

# ---------------------------------------------------------- python client

# The pins of the requirements file on one line (the venv's marker).
pyclient_spec() {
  grep -Ev '^[[:space:]]*(#|$)' "$PYCLIENT_REQUIREMENTS" | tr -s '[:space:]' ' ' | sed 's/ $//'
}

pyclient_start() {
  [[ -f "$PYCLIENT_REQUIREMENTS" ]] || die "pyclient: $PYCLIENT_REQUIREMENTS not found"
  local spec
  spec="$(pyclient_spec)"
  if venv_ok "$PYCLIENT_VENV" "$spec"; then
    say "pyclient: $PYCLIENT_VENV up to date"
    return 0
  fi
  local log="$RUN/install-pyclient.log" t0=$SECONDS python="$PYCLIENT_VENV/bin/python"
  say "pyclient: installing $spec into $PYCLIENT_VENV (log: $log)"
  rm -rf "$PYCLIENT_VENV"
  # `pip check`: the file pins every dependency, so nothing is left to chance.
  if ! { "$PYTHON" -m venv "$PYCLIENT_VENV" &&
    "$python" -m pip install --disable-pip-version-check --no-input -r "$PYCLIENT_REQUIREMENTS" &&
    "$python" -m pip check --disable-pip-version-check &&
    "$python" -c 'import jsonschema, websockets.asyncio.client'; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "pyclient: installing $PYCLIENT_REQUIREMENTS failed (full log: $log)"
  fi
  "$python" -m pip freeze --disable-pip-version-check >"$PYCLIENT_VENV/.weft-freeze.txt" 2>/dev/null || true
  printf '%s\n' "$spec" >"$PYCLIENT_VENV/.weft-installed"
  say "pyclient: installed in $((SECONDS - t0)) s ($python)"
}

# ------------------------------------------------------------------ main

cmd_status() {
  local ok=0 pid
  if pid="$(embedder_pid)"; then
    if embedder_healthy; then
      say "embedder: running (pid $pid) on $EMBEDDER_URL, healthy"
    else
      say "embedder: process $pid exists but $EMBEDDER_URL is not healthy (log: $EMBEDDER_LOG)"
      ok=1
    fi
  else
    say "embedder: not running"
    ok=1
  fi
  if pid="$(litellm_pid)"; then
    if litellm_healthy; then
      say "litellm:  running (pid $pid) on $LITELLM_URL, healthy"
    else
      say "litellm:  process $pid exists but $LITELLM_URL is not healthy (log: $LITELLM_LOG)"
      ok=1
    fi
  else
    say "litellm:  not running"
    ok=1
  fi
  if pg_running; then
    say "pgvector: running (pid $(head -n 1 "$PG_DATA/postmaster.pid")) on 127.0.0.1:$PG_PORT, data $PG_DATA"
  else
    say "pgvector: not running"
    ok=1
  fi
  if pid="$(moto_pid)"; then
    if moto_healthy; then
      say "moto:     running (pid $pid) on $MOTO_URL, healthy"
    else
      say "moto:     process $pid exists but $MOTO_URL is not healthy (log: $MOTO_LOG)"
      ok=1
    fi
  else
    say "moto:     not running"
    ok=1
  fi
  if port_open 5432; then
    say "postgres: the machine's PostgreSQL accepts connections on 127.0.0.1:5432 (not managed here)"
  else
    say "postgres: nothing on 127.0.0.1:5432; start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  fi
  # Not a server: reported, but not part of the exit status.
  if [[ -f "$PYCLIENT_REQUIREMENTS" ]] && venv_ok "$PYCLIENT_VENV" "$(pyclient_spec)"; then
    say "pyclient: installed ($PYCLIENT_VENV/bin/python)"
  else
    say "pyclient: not installed or outdated ('start' installs it)"
  fi
  return "$ok"
}

cmd_env() {
  printf 'export WEFT_TEST_LITELLM_URL=%q\n' "$LITELLM_URL"
  printf 'export WEFT_TEST_LITELLM_KEY=%q\n' "$LITELLM_KEY"
  printf 'export WEFT_TEST_EMBEDDER_URL=%q\n' "$EMBEDDER_URL"
  printf 'export WEFT_TEST_PGVECTOR_URL=%q\n' "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  printf 'export WEFT_TEST_POSTGRES_URL=%q\n' "$SYSTEM_PG_URL"
  printf 'export WEFT_TEST_MOTO_URL=%q\n' "$MOTO_URL"
  printf 'export WEFT_TEST_PYTHON=%q\n' "$PYCLIENT_VENV/bin/python"
}

[[ $# -eq 1 ]] || usage
case "$1" in
start)
  lock
  t_start=$SECONDS
  embedder_start # before LiteLLM, which routes `hash-embed` to it
  litellm_start
  pg_start
  moto_start
  pyclient_start
  port_open 5432 || warn "warning: the machine's PostgreSQL is not running on 127.0.0.1:5432 (see 'status')"
  say "all started in $((SECONDS - t_start)) s; for the tests: eval \"\$(bash tests/testbeds.sh env)\""
  ;;
stop)
  lock
  litellm_stop
  embedder_stop
  pg_stop
  moto_stop
  ;;
status) cmd_status ;;
env) cmd_env ;;
*) usage ;;
esac
