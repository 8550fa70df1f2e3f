#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector), then the conformance suite, where the official @microsoft/signalr
# client on Node drives a real server: once on one node, once on two nodes
# scaled out on Redis; then the browser tests, where Debian's Chromium (driven
# by playwright-core) uses the demo chat page and the dashboard. Installs what
# the tests need first (npm packages, redis-server, chromium).
#
# Quiet on success, loud on failure: every step runs through `step`, which
# keeps the step's output in a file and prints one line when it passes; a step
# that fails prints all of its output and ends the run. TEST_VERBOSE=1 shows
# every step's output as it runs.
set -euo pipefail
cd "$(dirname "$0")"

work="$(mktemp -d)" # step logs and the server binary of the browser tests
trap 'rm -rf "$work"' EXIT
nsteps=0

# step NAME COMMAND [ARGS...]: runs one step of the test run, as above. A
# command with a cd or a pipe goes through bash -c '...'.
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
    echo "test.sh: \"$name\" failed (exit $rc, $((SECONDS - start)) s)" >&2
    exit "$rc"
  fi
  [ "${TEST_VERBOSE:-}" = 1 ] && printf '== %s: ' "$name"
  echo "ok ($((SECONDS - start)) s)"
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 is required" >&2; exit 1; }; }
need go
need node
need npm

# Debian packages: the scale-out tests start their own redis-server processes;
# the browser tests drive Chromium (/usr/bin/chromium; no browser is downloaded).
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=()
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  missing+=(redis-server)
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  # The redis package may start a system Redis on 6379; the tests use their own on free ports.
  step "installing ${missing[*]}" bash -c "$SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ${missing[*]}"
fi
need redis-server
need redis-cli
need chromium

step "npm packages for the conformance suite and the browser tests" bash -c '
  (cd conformance && npm ci --no-audit --no-fund --loglevel=error) &&
  (cd browser && npm ci --no-audit --no-fund --loglevel=error)'

step "go vet" go vet ./...

step "go test (every test, including the 10,000-connection ones)" go test -timeout 10m ./...

step "go test -race (the scale tests skip themselves here)" go test -race -short -timeout 10m ./...

# The spec reporter ends with the failing tests, each carrying the official
# client's log and the servers' output while it ran (conformance/lib/harness.js).
step "conformance suite (official SignalR client on Node)" \
  bash -c 'cd conformance && node --test --test-reporter=spec test/'

# (cluster.test.js starts its own deployments: once is enough)
step "conformance suite again, on 2 nodes on one Redis, clients spread over both" \
  bash -c 'cd conformance && CONFORMANCE_NODES=2 node --test --test-reporter=spec $(ls test/*.test.js | grep -v "/cluster\.test\.js$")'

step "browser tests (Debian's Chromium: the demo chat page, the dashboard, the README's clients)" \
  bash -c 'go build -o "$1/actorhub-server" ./cmd/server &&
    cd browser && ACTORHUB_SERVER_BIN="$1/actorhub-server" node --test --test-reporter=spec --test-concurrency=1 test/' _ "$work"

echo "== all $nsteps steps passed"
