import type { Compression } from "../artifact/compress.js";
import { HOST_CHECK } from "./host-check.js";
import { sh } from "./layout.js";

/** Remove what a deploy that died while staging left behind. Only run while holding the lock. */
const CLEAN = `
rm -rf "$1"/releases/.tmp-* "$1"/virtualenvs/.tmp-* "$1"/.slipway/incoming
mkdir -p "$1/releases" "$1/virtualenvs" "$1/.slipway/incoming"`;

export function cleanStale(root: string): string[] {
  return sh(CLEAN, root);
}

/**
 * Receive a file on stdin into `<dest>.part`, check its sha256 on the host, and only then give
 * it its name. A mismatch removes it and exits 3.
 */
const RECEIVE = `
set -e
part="$1.part"
cat > "$part"
actual=$(sha256sum "$part" | cut -d' ' -f1)
if [ "$actual" != "$2" ]; then rm -f "$part"; echo "sha256 mismatch: got $actual, expected $2" >&2; exit 3; fi
mv -f "$part" "$1"`;

export function receiveFile(dest: string, sha256: string): string[] {
  return sh(RECEIVE, dest, sha256);
}

/**
 * GNU tar unpacking a layer (the script appends `-C <dir>`): owners in the archive ignored,
 * modes minus the umask and never setuid, setgid or sticky (--no-same-permissions, even as
 * root). GNU tar itself refuses `..` members, strips a leading `/`, and unpacks a symlink that
 * points outside as a placeholder, so nothing is written through it.
 */
export function tarExtract(file: string, compression: Compression): string[] {
  const codec = compression === "zstd" ? "--use-compress-program=zstd" : "--gzip";
  return ["tar", "-x", codec, "-f", file, "--no-same-owner", "--no-same-permissions", "--no-overwrite-dir"];
}

/**
 * Unpack the venv layer beside its final place, check it (host-check.ts), mark it complete,
 * then rename it into <root>/virtualenvs/<key>: the venv directory only ever appears whole.
 */
const UNPACK_VENV = `${HOST_CHECK}
set -e
root=$1 key=$2 file=$3 py1=$4 py2=$5 manifest=; shift 5
final="$root/virtualenvs/$key"
if [ -f "$final/.slipway-complete" ]; then rm -f "$file"; echo present; exit 0; fi
tmp="$root/virtualenvs/.tmp-$key-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
untar "$tmp" venv "$@"
reserved "$tmp" venv .slipway-complete
check_tree "$tmp" venv "$py1" "$py2"
: > "$tmp/.slipway-complete"
rm -rf "$final"
mv "$tmp" "$final"
rm -f "$file"
echo unpacked`;

/**
 * `interpreters`: the manifest's env.python.configured and .executable, the only places outside
 * the venv its symlinks may lead to. Without them the host allows links to any executable python*.
 */
export function unpackVenv(root: string, key: string, file: string, compression: Compression, interpreters: readonly string[] = []): string[] {
  return sh(UNPACK_VENV, root, key, file, interpreters[0] ?? "", interpreters[1] ?? "", ...tarExtract(file, compression));
}

/**
 * Unpack the code layer into a temporary dir beside the releases, check it (host-check.ts),
 * add the manifest, link the venv and the shared dirs, then rename it to releases/<build_id>.
 * A release that is already there is reused if its manifest is byte-identical, refused
 * (exit 3) otherwise.
 */
const UNPACK_RELEASE = `${HOST_CHECK}
set -e
root=$1 build=$2 key=$3 file=$4 manifest=$5 shared=$6; shift 6
final="$root/releases/$build"
if [ -d "$final" ]; then
  if cmp -s "$manifest" "$final/slipway.json"; then rm -f "$file" "$manifest"; echo present; exit 0; fi
  echo "release $build already exists on this host with a different manifest" >&2; exit 3
fi
tmp="$root/releases/.tmp-$build-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
untar "$tmp" code "$@"
reserved "$tmp" code slipway.json virtualenv
check_tree "$tmp" code
mv -f "$manifest" "$tmp/slipway.json"
rm -rf "$tmp/virtualenv"
ln -s "$root/virtualenvs/$key" "$tmp/virtualenv"
if [ -n "$shared" ]; then
  old_ifs=$IFS; IFS=:
  for d in $shared; do
    IFS=$old_ifs
    mkdir -p "$root/shared/$d"
    rm -rf "$tmp/$d"
    mkdir -p "$(dirname "$tmp/$d")"
    ln -s "$root/shared/$d" "$tmp/$d"
  done
  IFS=$old_ifs
fi
mv "$tmp" "$final"
rm -f "$file"
echo unpacked`;

export function unpackRelease(
  root: string,
  buildId: string,
  key: string,
  file: string,
  manifestFile: string,
  shared: readonly string[],
  compression: Compression,
): string[] {
  return sh(UNPACK_RELEASE, root, buildId, key, file, manifestFile, shared.join(":"), ...tarExtract(file, compression));
}
