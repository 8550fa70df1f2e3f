#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector), then the conformance suite, where the official @microsoft/signalr
# client on Node drives a real server: once on one node, then on two nodes
# scaled out on each backplane (Redis, PostgreSQL, NATS; the three runs side by
# side); then the browser tests, where Debian's Chromium (driven by
# playwright-core) uses the demo chat page and the dashboard. Installs what the
# tests need first (npm packages, and Debian's redis-server, postgresql,
# nats-server and chromium; the tests start the servers themselves on free
# loopback ports and temporary directories).
set -euo pipefail
cd "$(dirname "$0")"

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
  echo "== installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
need redis-server
need redis-cli
need nats-server
need chromium
[ -n "$(pg_bin initdb)" ] && [ -n "$(pg_bin postgres)" ] || { echo "test.sh: PostgreSQL's initdb and postgres are required" >&2; exit 1; }

echo "== npm packages for the conformance suite and the browser tests"
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
(cd browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== go vet"
go vet ./...

echo "== go test (every test, including the 10,000-connection ones)"
go test -timeout 10m ./...

echo "== go test -race (the scale tests skip themselves here)"
go test -race -short -timeout 10m ./...

echo "== conformance suite (official SignalR client on Node; cluster.test.js on 3 nodes on Redis)"
(cd conformance && node --test test/)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/actorhub-server" ./cmd/server

echo "== conformance suite again on 2 nodes, clients spread over both, over each backplane: redis, postgres, nats"
# The three runs are independent (each starts its own servers on free ports) and
# mostly wait on timers, so they run side by side; their reports follow in turn.
# cluster.test.js (3 nodes, its own deployments) ran on Redis above; it runs
# again on PostgreSQL and NATS.
start=$SECONDS
for b in redis postgres nats; do
  files=$(cd conformance && ls test/*.test.js | { if [ "$b" = redis ]; then grep -v '/cluster\.test\.js$'; else cat; fi; })
  (cd conformance && ACTORHUB_SERVER_BIN="$work/actorhub-server" CONFORMANCE_NODES=2 CONFORMANCE_BACKPLANE=$b \
    node --test $files >"$work/$b.log" 2>&1; echo $? >"$work/$b.rc") &
done
wait
failed=""
for b in redis postgres nats; do
  echo "== conformance suite on 2 nodes over $b"
  cat "$work/$b.log"
  [ "$(cat "$work/$b.rc")" = 0 ] || failed="$failed $b"
done
echo "== the three 2-node runs took $((SECONDS - start)) s side by side"
if [ -n "$failed" ]; then
  echo "test.sh: the 2-node conformance suite failed over:$failed" >&2
  exit 1
fi

echo "== browser tests (Debian's Chromium: the demo chat page, the dashboard, the README's clients)"
(cd browser && ACTORHUB_SERVER_BIN="$work/actorhub-server" node --test --test-concurrency=1 test/)
