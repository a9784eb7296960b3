#!/usr/bin/env bash
# The main job on a local default: build the example app, deploy it on this machine (local
# transport, run by supervisord), show it serving its build id; then a code change is built
# and deployed (only the code layer moves), and a rollback brings the first build back.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
slipway() { node "$repo/dist/cli.js" "$@"; }
root=/srv/hello
port=8000

if ! mkdir -p "$root" 2>/dev/null || [ ! -w "$root" ]; then
  echo "the example builds its venv at $root: run  sudo mkdir -p $root && sudo chown $(id -un) $root" >&2
  exit 2
fi
command -v supervisord >/dev/null || { echo "supervisord is needed for the demo: bash scripts/setup.sh installs it" >&2; exit 2; }

# Work on a copy, so the demo's code change never touches the repository.
work=$(mktemp -d /tmp/slipway-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/examples/hello" "$work/hello"
rm -rf "$work/hello/dist"
cd "$work/hello"

mkdir -p "$root/supervisor"
cp deploy/supervisord.conf "$root/supervisor/supervisord.conf"
if ! supervisorctl -c "$root/supervisor/supervisord.conf" pid >/dev/null 2>&1; then
  supervisord -c "$root/supervisor/supervisord.conf"
fi
health() {
  for _ in $(seq 50); do
    if out=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null) && [[ "$out" == *"\"$1\""* ]]; then echo "$out"; return 0; fi
    sleep 0.1
  done
  echo "http://127.0.0.1:$port/health did not report build $1" >&2; return 1
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
first="demo-$stamp-1"; second="demo-$stamp-2"

echo "== slipway build --build-id $first"
slipway build --build-id "$first"
echo; echo "== slipway deploy dist/hello-$first.tar --target local"
slipway deploy "dist/hello-$first.tar" --target local
echo "GET http://127.0.0.1:$port/health → $(health "$first")"

echo; echo "== a code change, then build and deploy it (the venv is reused: only the code layer moves)"
sed -i 's/"status": "ok",/"status": "ok", "greeting": "hello again",/' hello/app.py
slipway build --build-id "$second"
slipway deploy "dist/hello-$second.tar" --target local
echo "GET http://127.0.0.1:$port/health → $(health "$second")"

echo; echo "== slipway rollback --target local"
slipway rollback --target local
echo "GET http://127.0.0.1:$port/health → $(health "$first")"

echo; echo "== slipway releases --target local"
slipway releases --target local
echo
echo "The app keeps running under supervisord; stop it with: supervisorctl -c $root/supervisor/supervisord.conf shutdown"
