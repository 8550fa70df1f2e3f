#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector), then the conformance suite, where the official @microsoft/signalr
# client on Node drives a real server: once on one node, once on two nodes
# scaled out on Redis. Installs what the tests need first (npm packages,
# redis-server).
set -euo pipefail
cd "$(dirname "$0")"

need() { command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 is required" >&2; exit 1; }; }
need go
need node
need npm

# The scale-out tests start their own redis-server processes (Debian's package).
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "== installing redis-server"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  # The package may start a system Redis on 6379; the tests use their own on free ports.
fi
need redis-server
need redis-cli

echo "== npm packages for the conformance suite"
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)

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
