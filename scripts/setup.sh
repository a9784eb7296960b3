#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for slipway: system packages, node modules, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-venv/-dev build venvs and C extensions; the *-whl packages and python3-gunicorn feed
# the offline test wheelhouse; zstd compresses layers; git stamps builds; sshd, supervisord and
# iproute2 run the test hosts (network namespaces) and the demo; haproxy fronts them; the python3-*
# packages are repacked into the Django wheelhouse; PostgreSQL 15 (pg_ctl, initdb from
# /usr/lib/postgresql/15/bin; psql) and redis-server back the Django example's tests; chromium
# drives the dashboard's browser test; skopeo and umoci read the OCI images `slipway image`
# writes, and docker-registry (htpasswd from apache2-utils) receives `slipway push --to`;
# debootstrap makes the minimal base image the image test runs on (with runc); dpkg-dev, lintian,
# reprepro, rpm, rpmlint and createrepo-c build, check and publish `slipway package` output;
# swift-proxy, swift-object, swift-container, swift-account and python3-swift (OpenStack Swift
# with its s3api middleware) are the S3 store `slipway push --to s3://` is tested against;
# build-essential compiles better-sqlite3 where no prebuilt binary can be downloaded.
APT_PACKAGES=(python3 python3-venv python3-dev python3-pip-whl python3-setuptools-whl python3-wheel-whl
  python3-gunicorn python3-django python3-whitenoise python3-psycopg2 python3-celery python3-redis python3-flask postgresql redis-server build-essential zstd tar git util-linux curl openssh-client openssh-server supervisor haproxy iproute2 openssl sudo postgresql-15 postgresql-client-15 chromium skopeo umoci docker-registry apache2-utils
  debootstrap runc dpkg dpkg-dev lintian reprepro rpm rpmlint createrepo-c
  swift-proxy swift-object swift-container swift-account python3-swift)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The commands the tests, benches and demo run, from the packages above (dpkg-deb is dpkg's,
# apt-get apt's): a package that installed without them is a broken machine, said here.
for c in dpkg-deb apt-get rpmbuild rpm lintian rpmlint reprepro createrepo_c debootstrap runc skopeo umoci \
  docker-registry htpasswd haproxy supervisord /usr/sbin/sshd ssh zstd tar git curl ip unshare nsenter chromium \
  swift-proxy-server swift-object-server swift-container-server swift-account-server swift-ring-builder; do
  command -v "$c" >/dev/null || { echo "setup: $c is missing after installing the packages above" >&2; exit 1; }
done
# Swift always reads its hash path settings here (the swift package writes it).
grep -q '^swift_hash_path_' /etc/swift/swift.conf 2>/dev/null ||
  { echo "setup: /etc/swift/swift.conf has no swift_hash_path_* after installing swift" >&2; exit 1; }

# better-sqlite3 compiles against node's own headers when its prebuilt binary cannot be
# fetched (no GitHub access): point node-gyp at them instead of downloading them.
node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi
npm ci --no-audit --no-fund
npm run build
