#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector), then the conformance suite, where the official @microsoft/signalr
# client on Node drives a real server: once on one node, then on two nodes
# scaled out on each backplane (Redis, a 3-master Redis Cluster, PostgreSQL, NATS; the
# four runs side by side); then the browser tests, where Debian's Chromium (driven by
# playwright-core) uses the demo chat page and the dashboard. Installs what the
# tests need first (npm packages, and Debian's redis-server, postgresql,
# nats-server and chromium; the tests start the servers themselves on free
# loopback ports and temporary directories).
#
# Quiet on success, loud on failure: every step runs through `step`, which
# keeps the step's output in a file and prints one line when it passes; a step
# that fails prints all of its output and ends the run. TEST_VERBOSE=1 shows
# every step's output as it runs.
set -euo pipefail
cd "$(dirname "$0")"

work="$(mktemp -d)" # step logs, the server binary of the node suites
trap 'rm -rf "$work"' EXIT
nsteps=0

# step NAME COMMAND [ARGS...]: runs one step of the test run, as above. A
# command with a cd or a pipe goes through bash -c '...' or a function.
step() {
  local name=$1 start=$SECONDS rc=0
  shift
  nsteps=$((nsteps + 1))
  if [ "${TEST_VERBOSE:-}" = 1 ]; then
    echo "== $name"
    "$@" || rc=$?
  else
    printf '== %s: ' "$name"
    "$@" >"$work/step-$nsteps.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "FAILED; its output:"
      cat "$work/step-$nsteps.log"
    fi
  fi
  if [ "$rc" -ne 0 ]; then
    machine_state
    echo "test.sh: \"$name\" failed (exit $rc, $((SECONDS - start)) s)" >&2
    exit "$rc"
  fi
  [ "${TEST_VERBOSE:-}" = 1 ] && printf '== %s: ' "$name"
  echo "ok ($((SECONDS - start)) s)"
}

# machine_state: what a failed step leaves to go on when the cause is the
# machine (memory, a process the kernel killed, the process table).
machine_state() {
  echo "== the machine when the step failed"
  free -m || true
  cat /proc/pressure/memory 2>/dev/null || true
  echo "processes: $(ls -d /proc/[0-9]* | wc -l); pid_max $(cat /proc/sys/kernel/pid_max)"
  dmesg 2>/dev/null | grep -iE 'out of memory|oom|killed process' | tail -n 20 || true
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 is required" >&2; exit 1; }; }
need go
need node
need npm

# Debian packages: the scale-out tests start their own redis-server, PostgreSQL
# and nats-server processes (the packages may start system services on the
# default ports; the tests use their own on free ports); the browser tests drive
# Chromium (/usr/bin/chromium; no browser is downloaded).
pg_bin() { # a PostgreSQL program: on PATH, else in the newest /usr/lib/postgresql/N/bin
  command -v "$1" 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=()
{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || missing+=(redis-server)
{ [ -n "$(pg_bin initdb)" ] && [ -n "$(pg_bin postgres)" ] && [ -n "$(pg_bin psql)" ]; } || missing+=(postgresql)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}" bash -c "$SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ${missing[*]}"
fi
need redis-server
need redis-cli
need nats-server
need chromium
[ -n "$(pg_bin initdb)" ] && [ -n "$(pg_bin postgres)" ] || { echo "test.sh: PostgreSQL's initdb and postgres are required" >&2; exit 1; }

step "npm packages for the conformance suite and the browser tests" bash -c '
  (cd conformance && npm ci --no-audit --no-fund --loglevel=error) &&
  (cd browser && npm ci --no-audit --no-fund --loglevel=error)'

step "go vet" go vet ./...

step "go test (every test, including the 10,000-connection ones)" go test -timeout 10m ./...

step "go test -race (the scale tests skip themselves here)" go test -race -short -timeout 10m ./...

step "the server binary for the node suites" go build -o "$work/actorhub-server" ./cmd/server
export ACTORHUB_SERVER_BIN="$work/actorhub-server"

# The node suites use the spec reporter, which ends with the failing tests; a
# failing conformance case carries the official client's log and the servers'
# output while it ran (conformance/lib/harness.js).
step "conformance suite (official SignalR client on Node; cluster.test.js on 3 nodes on Redis)" \
  bash -c 'cd conformance && node --test --test-reporter=spec test/'

# conformance_backplanes: the suite on 2 nodes, clients spread over both, over
# each backplane. The three runs are independent (each starts its own servers
# on free ports) and mostly wait on timers, so they run side by side; the
# output of those that fail is printed. cluster.test.js (3 nodes, its own
# deployments) ran on Redis above; it runs again on the 3-master Redis Cluster,
# PostgreSQL and NATS. redis-cluster is a Redis Cluster of 3 masters that the
# harness starts (conformance/lib/backplanes.js).
conformance_backplanes() {
  local b files failed=""
  for b in redis redis-cluster postgres nats; do
    files=$(cd conformance && ls test/*.test.js | { if [ "$b" = redis ]; then grep -v '/cluster\.test\.js$'; else cat; fi; })
    (cd conformance && CONFORMANCE_NODES=2 CONFORMANCE_BACKPLANE=$b \
      node --test --test-reporter=spec $files >"$work/$b.log" 2>&1; echo $? >"$work/$b.rc") &
  done
  wait
  for b in redis redis-cluster postgres nats; do
    if [ "$(cat "$work/$b.rc")" != 0 ]; then
      echo "== conformance suite on 2 nodes over $b: FAILED"
      cat "$work/$b.log"
      failed="$failed $b"
    fi
  done
  if [ -n "$failed" ]; then
    echo "the 2-node conformance suite failed over:$failed"
    return 1
  fi
}
step "conformance suite again on 2 nodes over each backplane: redis, redis-cluster, postgres, nats (side by side)" conformance_backplanes

step "browser tests (Debian's Chromium: the demo chat page, the dashboard, the README's clients)" \
  bash -c 'cd browser && node --test --test-reporter=spec --test-concurrency=1 test/'

echo "== all $nsteps steps passed"
