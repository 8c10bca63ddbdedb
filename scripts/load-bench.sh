#!/usr/bin/env bash
# Load benchmark of issue 6: requests/s, p50/p99 latency, server CPU per request
# and peak RSS of one small handler on loopback, in the same run:
#   unprotected | bearer-guard (verified-token cache on and off)
#   | jwt-authorizer | axum-jwt-auth (as shipped: RustCrypto RSA; and on aws-lc)
# Each protected mode verifies RS256 against a JWKS fetched over HTTP and checks
# iss/aud/exp (see benches/load/src/main.rs). Modes alternate inside every round
# (and the order rotates from round to round) so the machine's drift cancels
# out; the server runs pinned to one core and the load generator (wrk, one
# thread) to the other.
#
# Usage: scripts/load-bench.sh
# Environment (defaults in brackets):
#   ROUNDS [5]        rounds; each round runs every mode once
#   DURATION [10]     seconds of measured load per mode and round
#   WARMUP [2]        seconds of unmeasured load before each measurement
#   CONNS [32]        concurrent keep-alive connections (wrk -c)
#   MODES             space-separated subset of: unprotected bearer-guard-cache-on
#                     bearer-guard-cache-off bearer-guard-key-ttl-2s jwt-authorizer
#                     axum-jwt-auth axum-jwt-auth-aws-lc
#                     (bearer-guard-key-ttl-2s: cache on, keys refreshed ahead of a 2 s TTL,
#                     in the background, all through the run)
#                     [all of them; without bearer-guard if BG=0]
#   BG [1]            0: build without the bearer-guard feature (peers only)
#   SKIP_BUILD [0]    1: reuse benches/load/target/release/load-server as is
#   SERVER_CPU [0] LOAD_CPU [1]   cores for taskset
#   PORT [18080]      loopback port of the benchmarked server
#   RESULTS_DIR       [benches/load/results/<UTC timestamp>] (git-ignored)
#
# Output: a Markdown table on stdout (also summary.md), raw rows in raw.csv,
# wrk output and server logs per run, all in RESULTS_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/benches/load"
BIN="$BENCH/target/release/load-server"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
BG=${BG:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-18080}
if [[ -z "${MODES:-}" ]]; then
  if [[ "$BG" == 1 ]]; then
    MODES="unprotected bearer-guard-cache-on bearer-guard-cache-off jwt-authorizer axum-jwt-auth axum-jwt-auth-aws-lc"
  else
    MODES="unprotected jwt-authorizer axum-jwt-auth axum-jwt-auth-aws-lc"
  fi
fi
read -r -a MODE_LIST <<<"$MODES"
URL="http://127.0.0.1:$PORT/hello"

die() { echo "load-bench: ERROR: $*" >&2; exit 1; }
log() { echo "load-bench: $*" >&2; }

# ---- preconditions ------------------------------------------------------------
for m in "${MODE_LIST[@]}"; do
  case "$m" in
    unprotected|jwt-authorizer|axum-jwt-auth|axum-jwt-auth-aws-lc) ;;
    bearer-guard-cache-on|bearer-guard-cache-off|bearer-guard-key-ttl-2s)
      [[ "$BG" == 1 ]] || die "mode $m needs BG=1" ;;
    *) die "unknown mode '$m'" ;;
  esac
done
[[ " $MODES " == *" unprotected "* ]] || die "MODES must include 'unprotected' (the ratios are to it)"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v curl >/dev/null || die "curl is missing"
command -v python3 >/dev/null || die "python3 is missing (summary table)"
ncpu=$(nproc)
(( ncpu >= 2 )) || die "needs 2 cores (server and load generator on different cores); nproc=$ncpu"
(( ncpu == 2 )) || log "note: $ncpu cores; pinning server to $SERVER_CPU and wrk to $LOAD_CPU anyway"

# ---- the load generator: wrk from Debian -----------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  if [[ $(id -u) == 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
  command -v wrk >/dev/null || die "could not install wrk"
fi
WRK_VERSION=$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}' || true)

# ---- build --------------------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
  feature_args=()
  [[ "$BG" == 1 ]] || feature_args=(--no-default-features)
  log "building load-server (release) ${feature_args[*]:-}"
  if ! cargo build --release --manifest-path "$BENCH/Cargo.toml" "${feature_args[@]}" >&2; then
    if [[ "$BG" == 1 ]]; then
      die "build failed; if bearer-guard itself does not compile yet, BG=0 benchmarks the peers only"
    fi
    die "build failed"
  fi
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it or unset SKIP_BUILD)"

# ---- results --------------------------------------------------------------------------
RESULTS_DIR=${RESULTS_DIR:-"$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)"}
mkdir -p "$RESULTS_DIR"
CSV="$RESULTS_DIR/raw.csv"
echo "round,slot,mode,requests,duration_s,rps,p50_us,p90_us,p99_us,max_us,mean_us,socket_errors,server_cpu_s,cpu_us_per_req,vmhwm_kb,jwks_fetches" >"$CSV"
{
  echo "date_utc=$(date -u +%FT%TZ)"
  echo "rounds=$ROUNDS duration=$DURATION warmup=$WARMUP conns=$CONNS modes=$MODES"
  echo "server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU wrk=$WRK_VERSION"
  echo "kernel=$(uname -r) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "rustc=$(rustc --version 2>/dev/null || echo '?')"
  echo "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit') dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)"
} >"$RESULTS_DIR/env.txt"

SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    sleep 0.5
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_args() {
  case "$1" in
    unprotected) echo "unprotected" ;;
    bearer-guard-cache-on) echo "bearer-guard --cache on" ;;
    bearer-guard-cache-off) echo "bearer-guard --cache off" ;;
    bearer-guard-key-ttl-2s) echo "bearer-guard --cache on --key-ttl 2" ;;
    jwt-authorizer) echo "jwt-authorizer" ;;
    axum-jwt-auth) echo "axum-jwt-auth --jwt10-crypto rust-crypto" ;;
    axum-jwt-auth-aws-lc) echo "axum-jwt-auth --jwt10-crypto aws-lc" ;;
  esac
}

# CPU seconds (user+system, all threads) the process has used so far.
cpu_seconds() {
  local ticks
  ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

http_code() { # url [token]
  if [[ -n "${2:-}" ]]; then
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$1"
  else
    curl -s -o /dev/null -w '%{http_code}' "$1"
  fi
}

# Proves the server does what is benchmarked: 200 (with the right body) for
# the valid token; in protected modes 401 without a token and for an expired
# one, a wrong audience, a wrong issuer and a broken signature.
check_server() { # mode tokenfile
  local mode=$1 tf=$2 body code
  body=$(curl -s -H "Authorization: Bearer $(cat "$tf")" "$URL")
  code=$(http_code "$URL" "$(cat "$tf")")
  [[ "$code" == 200 && "$body" == "hello bench-user" ]] \
    || die "$mode: valid token got HTTP $code, body '$body' (want 200 'hello bench-user')"
  if [[ "$mode" != unprotected ]]; then
    code=$(http_code "$URL")
    [[ "$code" == 401 ]] || die "$mode: no token got HTTP $code (want 401)"
    local bad
    for bad in expired wrong-aud wrong-iss bad-sig; do
      code=$(http_code "$URL" "$(cat "$tf.$bad")")
      [[ "$code" == 401 ]] || die "$mode: $bad token got HTTP $code (want 401)"
    done
  fi
}

run_one() { # round slot mode
  local round=$1 slot=$2 mode=$3
  local tag="r${round}-${mode}"
  local tf="$RESULTS_DIR/$tag.token"
  local slog="$RESULTS_DIR/$tag.server.log"
  rm -f "$tf" "$tf".*
  if curl -s -o /dev/null --max-time 1 "$URL"; then
    die "something already answers on $URL"
  fi

  # shellcheck disable=SC2046  # server_args is meant to split
  taskset -c "$SERVER_CPU" "$BIN" $(server_args "$mode") --listen "127.0.0.1:$PORT" \
    --token-file "$tf" >"$slog" 2>&1 &
  SERVER_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -s "$tf" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$slog" >&2; die "$mode: server exited during startup"; }
    sleep 0.05
  done
  [[ -s "$tf" ]] || { cat "$slog" >&2; die "$mode: server not ready after 10 s"; }
  local issuer
  issuer=$(sed -n 's/^READY .* issuer=\([^ ]*\).*/\1/p' "$slog")
  [[ -n "$issuer" ]] || die "$mode: no READY line in $slog"

  check_server "$mode" "$tf"
  local token
  token=$(cat "$tf")

  # Warm-up (not measured): connections, JWKS fetch, caches, allocator.
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" \
    -H "Authorization: Bearer $token" "$URL" >"$RESULTS_DIR/$tag.warmup.txt" 2>&1 \
    || die "$mode: wrk warm-up failed (see $RESULTS_DIR/$tag.warmup.txt)"

  local cpu0 cpu1 out
  cpu0=$(cpu_seconds "$SERVER_PID")
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$BENCH/wrk-report.lua" -H "Authorization: Bearer $token" "$URL" \
    >"$RESULTS_DIR/$tag.wrk.txt" 2>&1 || die "$mode: wrk failed (see $RESULTS_DIR/$tag.wrk.txt)"
  cpu1=$(cpu_seconds "$SERVER_PID")
  out=$(grep '^RESULT ' "$RESULTS_DIR/$tag.wrk.txt") || die "$mode: no RESULT line from wrk"

  local vmhwm fetches
  vmhwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
  fetches=$(curl -s "$issuer/stats" | sed -n 's/^jwks_fetches=//p')
  check_server "$mode" "$tf" # still right after the load

  kill -TERM "$SERVER_PID"
  for ((i = 0; i < 50; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""

  # RESULT k=v ... -> variables
  local requests duration_us p50_us p90_us p99_us max_us mean_us
  local err_connect err_read err_write err_timeout err_status
  eval "$(echo "${out#RESULT }" | tr ' ' '\n' | grep -E '^[a-z0-9_]+=[0-9.]+$')"
  (( err_status == 0 )) || die "$mode: $err_status answers under load were not 2xx (see $RESULTS_DIR/$tag.wrk.txt)"
  (( requests > 0 )) || die "$mode: no requests completed"
  local socket_errors=$((err_connect + err_read + err_write + err_timeout))
  (( socket_errors == 0 )) || log "warning: $mode round $round: $socket_errors socket errors"

  awk -v r="$round" -v s="$slot" -v m="$mode" -v n="$requests" -v d="$duration_us" \
      -v p50="$p50_us" -v p90="$p90_us" -v p99="$p99_us" -v mx="$max_us" -v mean="$mean_us" \
      -v se="$socket_errors" -v c0="$cpu0" -v c1="$cpu1" -v hwm="$vmhwm" -v jf="${fetches:-}" \
      'BEGIN { ds = d / 1e6; cpu = c1 - c0;
               printf "%s,%s,%s,%d,%.3f,%.1f,%d,%d,%d,%d,%.1f,%d,%.2f,%.2f,%s,%s\n",
                      r, s, m, n, ds, n / ds, p50, p90, p99, mx, mean, se, cpu, cpu * 1e6 / n, hwm, jf }' \
      >>"$CSV"
  log "round $round/$ROUNDS $(printf '%-24s' "$mode") $(tail -1 "$CSV" | awk -F, '{printf "%9.0f req/s  p50 %6d us  p99 %6d us  cpu %5.1f us/req  hwm %6d kB", $6, $7, $9, $14, $15}')"
}

log "results in $RESULTS_DIR"
n=${#MODE_LIST[@]}
for ((round = 1; round <= ROUNDS; round++)); do
  for ((slot = 0; slot < n; slot++)); do
    # Rotate the order every round so no mode always runs first or last.
    mode=${MODE_LIST[$(((slot + round - 1) % n))]}
    run_one "$round" "$slot" "$mode"
  done
done

python3 - "$CSV" "$RESULTS_DIR" "$DURATION" "$CONNS" "$ROUNDS" "$WRK_VERSION" "$MODES" <<'PY' | tee "$RESULTS_DIR/summary.md"
import csv, statistics, sys
path, outdir, duration, conns, rounds, wrk, modes = sys.argv[1:8]
rows = list(csv.DictReader(open(path)))
order = modes.split()
by_round = {}
for r in rows:
    by_round.setdefault(r["round"], {})[r["mode"]] = r
med = statistics.median
print(f"Load benchmark (issue 6): GET /hello on loopback, server pinned to one core, "
      f"{wrk} (1 thread, {conns} connections) on the other; {rounds} round(s) x {duration} s per mode, "
      f"modes alternating. Medians over rounds. Ratio = median over rounds of (mode req/s / "
      f"unprotected req/s in the same round).")
print()
print("| mode | req/s | ratio to (a) | ratio range | p50 (µs) | p99 (µs) | server CPU µs/req | peak RSS (MiB) | JWKS fetches |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in order:
    rs = [r for r in rows if r["mode"] == m]
    if not rs:
        continue
    ratios = [float(by_round[r["round"]][m]["rps"]) / float(by_round[r["round"]]["unprotected"]["rps"])
              for r in rs if "unprotected" in by_round[r["round"]]]
    f = lambda k: med([float(r[k]) for r in rs])
    rng = f"{min(ratios):.3f}–{max(ratios):.3f}" if len(ratios) > 1 else "—"
    fetch = "—" if m == "unprotected" else str(int(max(float(r["jwks_fetches"] or 0) for r in rs)))
    print(f"| {m} | {f('rps'):,.0f} | {med(ratios):.3f} | {rng} | {f('p50_us'):,.0f} | {f('p99_us'):,.0f} "
          f"| {f('cpu_us_per_req'):.1f} | {f('vmhwm_kb') / 1024:.1f} | {fetch} |")
PY
log "raw rows: $CSV"
