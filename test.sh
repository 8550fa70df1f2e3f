#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector), then the conformance suite, where the official @microsoft/signalr
# client on Node drives a real server: once on one node, once on two nodes
# scaled out on Redis; then the browser tests, where Debian's Chromium (driven
# by playwright-core) uses the demo chat page and the dashboard. Installs what
# the tests need first (npm packages, redis-server, chromium).
set -euo pipefail
cd "$(dirname "$0")"

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
  echo "== installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # The redis package may start a system Redis on 6379; the tests use their own on free ports.
fi
need redis-server
need redis-cli
need chromium

echo "== npm packages for the conformance suite and the browser tests"
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
(cd browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== go vet"
go vet ./...

echo "== go test (every test, including the 10,000-connection ones)"
go test -timeout 10m ./...

echo "== go test -race (the scale tests skip themselves here)"
go test -race -short -timeout 10m ./...

echo "== conformance suite (official SignalR client on Node)"
(cd conformance && node --test test/)

echo "== conformance suite again, on 2 nodes on one Redis, clients spread over both"
# (cluster.test.js starts its own deployments: once is enough)
(cd conformance && CONFORMANCE_NODES=2 node --test $(ls test/*.test.js | grep -v '/cluster\.test\.js$'))

echo "== browser tests (Debian's Chromium: the demo chat page, the dashboard, the README's clients)"
bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/actorhub-server" ./cmd/server
(cd browser && ACTORHUB_SERVER_BIN="$bin_dir/actorhub-server" node --test --test-concurrency=1 test/)
