#!/usr/bin/env bash
# The main job on a local default: build the example app into one artifact, verify it, then
# unpack it the way a host does and show it serving its build id.
set -euo pipefail
cd "$(dirname "$0")/../examples/hello"
slipway() { node ../../dist/cli.js "$@"; }

root=$(sed -n 's/^root *= *"\(.*\)".*/\1/p' slipway.toml)
if ! mkdir -p "$root" 2>/dev/null || [ ! -w "$root" ]; then
  echo "the example builds its venv at $root: run  sudo mkdir -p $root && sudo chown $(id -un) $root" >&2
  exit 2
fi

build_id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
echo "== slipway build --build-id $build_id"
slipway build --build-id "$build_id"
artifact="dist/hello-$build_id.tar"
echo; echo "== slipway inspect --verify $artifact"
slipway inspect "$artifact" --verify

echo; echo "== unpack as a host would, into $root/releases/$build_id, and serve it"
release="$root/releases/$build_id"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true' EXIT
tar -xf "$artifact" -C "$tmp"
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["env"]["key"])' "$tmp/slipway.json")
mkdir -p "$release" "$root/shared/data"
tar -xf "$tmp/code.tar.zst" -C "$release"
cp "$tmp/slipway.json" "$release/slipway.json"
ln -sfn "$root/virtualenvs/$key" "$release/virtualenv"
ln -sfn "$root/shared/data" "$release/data"
port=${PORT:-8000}
(cd "$release" && exec ./virtualenv/bin/python -m hello.serve --port "$port" 2>/dev/null) &
server=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
echo "GET http://127.0.0.1:$port/health →"
curl -fsS "http://127.0.0.1:$port/health"; echo
