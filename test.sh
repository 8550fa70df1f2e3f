#!/usr/bin/env bash
# Runs every test of actorhub: Go vet and tests (plain, then with the race
# detector),
# then the conformance suite, where the official @microsoft/signalr client
# on Node drives a real server. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")"

need() { command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 is required" >&2; exit 1; }; }
need go
need node
need npm

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
