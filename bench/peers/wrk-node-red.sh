#!/usr/bin/env bash
# Side-by-side load test: a published Weft flow against Node-RED's
# equivalent flow, with the same wrk command.
#
#   bench/peers/wrk-node-red.sh
#
# Weft: examples/hello-http.json (POST /hello {"name": ...} -> text.template
# -> text.upper -> {"greeting": "HELLO ADA!"}) saved and published to stage
# `prod` of project `bench` on `weft serve` (release build, SQLite in a
# throwaway data directory), called at http://bench-prod.localhost:PORT/hello.
# Node-RED 4: http in (POST /hello) -> function -> http response, building
# the same greeting. Both bound to 127.0.0.1 on free ports.
#
# Installs (cached outside the clone, under $HOME/.cache/weft-testbeds):
# wrk (apt-get) and Node-RED 4 (npm). Needs cargo, node, npm, curl.
# Honours CARGO_TARGET_DIR. Knobs (environment):
#   WRK_THREADS (2), WRK_CONNECTIONS (32), WRK_DURATION (10s),
#   WRK_WARMUP (2s; a throwaway wrk run before each measured one, 0 for none),
#   BENCH_HEALTHZ (1; also load GET /healthz on the same Weft server as a
#   reference for the server's fixed per-request cost, 0 to skip),
#   BENCH_MAX_LOAD (1.0), BENCH_SETTLE_SECS (120; after the build, wait up to
#   this long for the 1-minute load average to fall below BENCH_MAX_LOAD),
#   WEFT_TESTBEDS_CACHE ($HOME/.cache/weft-testbeds).
# Stops everything it started (by PID) on exit. Exits 1 if wrk saw any
# non-2xx/3xx answer or socket error (the figures are then invalid).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${WEFT_TESTBEDS_CACHE:-$HOME/.cache/weft-testbeds}
THREADS=${WRK_THREADS:-2}
CONNS=${WRK_CONNECTIONS:-32}
DURATION=${WRK_DURATION:-10s}
WARMUP=${WRK_WARMUP:-2s}
HEALTHZ=${BENCH_HEALTHZ:-1}
MAX_LOAD=${BENCH_MAX_LOAD:-1.0}
SETTLE_SECS=${BENCH_SETTLE_SECS:-120}
PROJECT=bench
STAGE=prod
TOKEN="wft_bench_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
BODY='{"name": "Ada"}'
EXPECTED='{"greeting":"HELLO ADA!"}'

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-wrk-node-red.XXXXXX")
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 && -d $WORK ]]; then
        for f in "$WORK"/*.log; do
            [[ -f $f ]] || continue
            printf -- '--- last lines of %s\n' "$f" >&2
            tail -n 20 "$f" >&2 || true
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in cargo node npm curl; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# --- installs -----------------------------------------------------------
mkdir -p "$CACHE"
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get)"
    SUDO=
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get install -y wrk >"$CACHE/install-wrk.log" 2>&1 || {
        $SUDO apt-get update >>"$CACHE/install-wrk.log" 2>&1
        $SUDO apt-get install -y wrk >>"$CACHE/install-wrk.log" 2>&1
    } || die "apt-get install wrk failed; see $CACHE/install-wrk.log"
fi
NR_DIR=$CACHE/node-red
NODE_RED=$NR_DIR/node_modules/node-red/red.js
if [[ ! -f $NODE_RED ]]; then
    log "installing Node-RED 4 into $NR_DIR (npm, about 40 s)"
    mkdir -p "$NR_DIR"
    [[ -f $NR_DIR/package.json ]] || echo '{"name": "weft-testbed-node-red", "private": true}' >"$NR_DIR/package.json"
    npm install --prefix "$NR_DIR" --no-audit --no-fund node-red@4 >"$CACHE/install-node-red.log" 2>&1 \
        || die "npm install node-red@4 failed; see $CACHE/install-node-red.log"
fi
NR_VERSION=$(node -p "require('$NR_DIR/node_modules/node-red/package.json').version")

# --- helpers ------------------------------------------------------------
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

# CPU time (user + system, in clock ticks) of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run_wrk NAME PID URL [wrk args...]: prints wrk's output into $WORK/NAME.wrk
# and one summary line into $WORK/NAME.sum.
run_wrk() {
    local name=$1 pid=$2 url=$3
    shift 3
    if [[ $WARMUP != 0 ]]; then
        wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$@" "$url" >/dev/null
    fi
    local before after
    before=$(cpu_ticks "$pid")
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" >"$WORK/$name.wrk"
    after=$(cpu_ticks "$pid")
    cat "$WORK/$name.wrk" >&2
    awk -v name="$name" -v ticks=$((after - before)) -v hz="$CLK_TCK" '
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /requests in/ { reqs = $1 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { sock = $0; sub(/^ *Socket errors: */, "", sock) }
        END {
            if (bad == "") bad = 0
            if (sock == "") sock = "none"
            cpu = (reqs > 0) ? ticks / hz * 1e6 / reqs : 0
            printf "%s|%s|%s|%s|%s|%s|%.0f\n", name, rps, p50, p99, bad, sock, cpu
        }' "$WORK/$name.wrk" >"$WORK/$name.sum"
}

wait_http() { # URL [curl args...]: until it answers (any status), 30 s
    local url=$1
    shift
    for _ in $(seq 300); do
        curl -s -o /dev/null "$@" "$url" && return 0
        sleep 0.1
    done
    return 1
}

check_answer() { # NAME ANSWER
    local got
    got=$(node -e 'process.stdout.write(JSON.stringify(JSON.parse(process.argv[1])))' "$2" 2>/dev/null) || got=$2
    [[ $got == "$EXPECTED" ]] || die "$1 answered $2, expected $EXPECTED"
    log "$1 answers $got"
}

# --- Weft ---------------------------------------------------------------
log "building weft (cargo build --release -p weft)"
(cd "$ROOT" && cargo build --release -p weft)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
WEFT=$TARGET_DIR/release/weft
[[ -x $WEFT ]] || die "no $WEFT after the build"

# The build (and other jobs) raise the load: wait for it to settle, up to
# BENCH_SETTLE_SECS, then record it. wrk and the servers add about 2-3 to
# the 1-minute load during the runs, so the figure at the end says little.
for ((waited = 0; waited < SETTLE_SECS; waited += 5)); do
    awk -v max="$MAX_LOAD" '{ exit !($1 < max) }' /proc/loadavg && break
    ((waited == 0)) && log "waiting (up to ${SETTLE_SECS}s) for the 1-minute load to fall below $MAX_LOAD: $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 5
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before the runs: $LOAD_START"

mkdir -p "$WORK/weft-data"
WEFT_ADMIN_TOKEN=$TOKEN WEFT_LOG=warn "$WEFT" serve --listen 127.0.0.1:0 \
    --data-dir "$WORK/weft-data" >"$WORK/weft.log" 2>&1 &
WEFT_PID=$!
PIDS+=("$WEFT_PID")
WEFT_PORT=
for _ in $(seq 300); do
    WEFT_PORT=$(sed -n 's|^weft: listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/weft.log")
    [[ -n $WEFT_PORT ]] && break
    kill -0 "$WEFT_PID" 2>/dev/null || die "weft serve exited"
    sleep 0.1
done
[[ -n $WEFT_PORT ]] || die "weft serve did not listen within 30 s"
WEFT_API=http://127.0.0.1:$WEFT_PORT
log "weft serve (pid $WEFT_PID) on $WEFT_API"

api() { # METHOD PATH [curl args...]
    local method=$1 path=$2
    shift 2
    curl -sS --fail-with-body -X "$method" -H "authorization: Bearer $TOKEN" \
        -H 'content-type: application/json' "$@" "$WEFT_API$path" >>"$WORK/api.log" \
        || die "$method $path failed: $(tail -c 500 "$WORK/api.log")"
    echo >>"$WORK/api.log"
}
api POST /v1/projects -d "{\"slug\": \"$PROJECT\"}"
api PUT "/v1/projects/$PROJECT/flows/hello-http" --data-binary @"$ROOT/examples/hello-http.json"
api POST "/v1/projects/$PROJECT/flows/hello-http/publish" -d "{\"stage\": \"$STAGE\"}"

WEFT_HOST=$PROJECT-$STAGE.localhost:$WEFT_PORT
WEFT_URL=http://127.0.0.1:$WEFT_PORT/hello
answer=$(curl -sS --fail-with-body -X POST -H "Host: $WEFT_HOST" \
    -H 'content-type: application/json' -d "$BODY" "$WEFT_URL") || die "weft: $answer"
check_answer "Weft (Host: $WEFT_HOST)" "$answer"

log "wrk against Weft: POST http://$WEFT_HOST/hello"
run_wrk weft "$WEFT_PID" "$WEFT_URL" -s "$WORK/post.lua" -H "Host: $WEFT_HOST"
if [[ $HEALTHZ != 0 ]]; then
    log "wrk against Weft: GET /healthz (reference)"
    run_wrk weft-healthz "$WEFT_PID" "$WEFT_API/healthz"
fi
WEFT_RSS=$(awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$WEFT_PID/status")
# Stop Weft before Node-RED's turn so the two never share the CPUs.
kill -TERM "$WEFT_PID"
wait "$WEFT_PID" 2>/dev/null || true

# --- Node-RED -----------------------------------------------------------
NR_PORT=$(free_port)
NR_USER=$WORK/node-red
mkdir -p "$NR_USER"
cat >"$NR_USER/settings.js" <<JS
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: $NR_PORT,
    flowFile: "flows.json",
    credentialSecret: false,
    diagnostics: { enabled: false },
    telemetry: { enabled: false, updateNotification: false },
    editorTheme: { tours: false },
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
JS
cat >"$NR_USER/flows.json" <<'JSON'
[
  {"id": "bench.tab", "type": "tab", "label": "bench"},
  {"id": "bench.in", "type": "http in", "z": "bench.tab", "name": "POST /hello",
   "url": "/hello", "method": "post", "upload": false, "swaggerDoc": "",
   "wires": [["bench.greet"]]},
  {"id": "bench.greet", "type": "function", "z": "bench.tab", "name": "greet",
   "func": "msg.payload = { greeting: ('Hello ' + msg.payload.name + '!').toUpperCase() };\nreturn msg;",
   "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
   "wires": [["bench.out"]]},
  {"id": "bench.out", "type": "http response", "z": "bench.tab", "name": "",
   "statusCode": "", "headers": {}, "wires": []}
]
JSON
node "$NODE_RED" --userDir "$NR_USER" --settings "$NR_USER/settings.js" >"$WORK/node-red.log" 2>&1 &
NR_PID=$!
PIDS+=("$NR_PID")
NR_URL=http://127.0.0.1:$NR_PORT/hello
for _ in $(seq 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
        -d "$BODY" "$NR_URL" || true)
    [[ $code == 200 ]] && break
    kill -0 "$NR_PID" 2>/dev/null || die "Node-RED exited"
    sleep 0.1
done
[[ $code == 200 ]] || die "Node-RED did not answer within 30 s"
log "Node-RED $NR_VERSION (pid $NR_PID) on http://127.0.0.1:$NR_PORT"
answer=$(curl -sS --fail-with-body -X POST -H 'content-type: application/json' -d "$BODY" "$NR_URL") \
    || die "Node-RED: $answer"
check_answer "Node-RED" "$answer"

log "wrk against Node-RED: POST $NR_URL"
run_wrk node-red "$NR_PID" "$NR_URL" -s "$WORK/post.lua"
NR_RSS=$(awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$NR_PID/status")

# --- figures ------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "Weft $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') vs Node-RED $NR_VERSION, Node.js $(node --version), $(nproc) CPUs"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up: $WARMUP); load average before the runs: $LOAD_START, after: $LOAD_END"
printf '%-14s %12s %10s %10s %9s %13s  %s\n' "" "req/s" "p50" "p99" "non-2xx" "server CPU/req" "socket errors"
invalid=0
for name in weft node-red weft-healthz; do
    [[ -f $WORK/$name.sum ]] || continue
    IFS='|' read -r n rps p50 p99 bad sock cpu <"$WORK/$name.sum"
    printf '%-14s %12s %10s %10s %9s %11s us  %s\n' "$n" "$rps" "$p50" "$p99" "$bad" "$cpu" "$sock"
    if [[ $bad != 0 || $sock != none ]]; then invalid=1; fi
done
echo "RSS after load: weft $WEFT_RSS, node-red $NR_RSS"
IFS='|' read -r _ weft_rps _ <"$WORK/weft.sum"
IFS='|' read -r _ nr_rps _ <"$WORK/node-red.sum"
awk -v w="$weft_rps" -v n="$nr_rps" 'BEGIN { printf "ratio Weft / Node-RED: %.2fx requests per second (target >= 10x: %s)\n", w / n, (w / n >= 10) ? "met" : "NOT met" }'
if [[ $invalid != 0 ]]; then
    echo "INVALID: wrk saw non-2xx/3xx answers or socket errors (see above)" >&2
    exit 1
fi
