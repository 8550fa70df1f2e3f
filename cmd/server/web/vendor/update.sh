#!/usr/bin/env bash
# Copies the official SignalR browser bundles from their npm releases into
# this folder, byte for byte. The version is the one browser/package.json
# pins for @microsoft/signalr. See NOTICE.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
version="$(node -p 'require(process.argv[1]).dependencies["@microsoft/signalr"]' "$root/browser/package.json")"
msgpack="$(node -p 'require(process.argv[1]).dependencies["@microsoft/signalr-protocol-msgpack"]' "$root/browser/package.json")"
if [ "$version" != "$msgpack" ]; then
  echo "update.sh: browser/package.json pins @microsoft/signalr $version but the msgpack protocol $msgpack" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for pkg in signalr signalr-protocol-msgpack; do
  (cd "$tmp" && npm pack --silent "@microsoft/$pkg@$version" >/dev/null)
  tar -xzf "$tmp/microsoft-$pkg-$version.tgz" -C "$tmp" "package/dist/browser/$pkg.min.js"
  cp "$tmp/package/dist/browser/$pkg.min.js" "$here/$pkg.min.js"
  rm -rf "$tmp/package"
done
sed -i -E "s/\| [0-9]+\.[0-9]+\.[0-9]+[^ |]* \| \`dist\/browser/| $version | \`dist\/browser/" "$here/NOTICE.md"
echo "SignalR browser bundles updated to $version"
