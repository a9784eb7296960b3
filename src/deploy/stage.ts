import type { Compression } from "../artifact/compress.js";
import { unpackAllowance } from "../artifact/limits.js";
import { HOST_CHECK } from "./host-check.js";
import { INTERPRETER_LINE_FN } from "./interpreter-mark.js";
import { COMPLETE_MARK, RELEASE_STATE_FN } from "./complete.js";
import { sh } from "./layout.js";
import { INFLATE, type ManifestDelta } from "./manifest-delta.js";
import { FETCH_FN } from "./fetch.js";

/**
 * Receive a file on stdin into `<dest>.part` (all of stdin, or the next `$3` bytes), check its
 * sha256 on the host, and only then give it its name. A mismatch removes it and exits 3. With a
 * dictionary `$4`, those bytes are a delta against it (manifest-delta.ts) and are expanded
 * first: `$6` zstd by zstd, deflate by the python `$5` running $inflate.
 */
const RECEIVE_FN = `
receive() {
  part="$1.part"
  if [ -n "$4" ]; then
    if [ "$6" = zstd ]; then head -c "$3" | zstd -q -d -c -D "$4" > "$part"
    else head -c "$3" | "$5" -I -S -c "$inflate" "$4" > "$part"; fi ||
      { rm -f "$part"; echo "cannot expand the delta of $(basename "$1") against $4" >&2; exit 3; }
  elif [ -n "$3" ]; then head -c "$3" > "$part"; else cat > "$part"; fi
  actual=$(sha256sum < "$part" 2>/dev/null) || actual=
  actual=\${actual%% *}
  case $actual in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;; *) rm -f "$part"; echo "cannot hash $(basename "$1") on this host" >&2; exit 1;; esac
  if [ "$actual" != "$2" ]; then rm -f "$part"; echo "sha256 mismatch for $(basename "$1"): got $actual, expected $2" >&2; exit 3; fi
  mv -f "$part" "$1"
}`;

/**
 * `stream_untar DIR LAYER SHA256 IN_BYTES OUT_BYTES CODEC TAR...`: unpack stdin into DIR as it
 * arrives (host-check.ts hashed_untar), then check its sha256: a mismatch removes DIR and exits
 * 3, like `receive`.
 */
const STREAM_UNTAR_FN = `
stream_untar() {
  d=$1 layer=$2 want=$3; shift 3
  hashed_untar "$d" "$layer" cat "$@"
  if [ "$actual" != "$want" ]; then
    rm -rf "$d"; echo "sha256 mismatch for $(basename "$file"): got $actual, expected $want" >&2; exit 3
  fi
  [ "$tar_rc" = 0 ] || untar_failed "$d" "$layer" "$out"
}`;

export function receiveFile(dest: string, sha256: string): string[] {
  return sh(`${RECEIVE_FN}\nset -e\numask 022\nreceive "$1" "$2"`, dest, sha256);
}

/**
 * GNU tar unpacking a layer (the script appends `-C <dir>`): owners in the archive ignored,
 * modes minus the umask and never setuid, setgid or sticky (--no-same-permissions, even as
 * root) — the unpack scripts set that umask to 022 (UNPACK_PRELUDE), whatever the deploy
 * user's. GNU tar itself refuses `..` members, strips a leading `/`, and unpacks a symlink that
 * points outside as a placeholder, so nothing is written through it.
 */
export function tarExtract(file: string, compression: Compression): string[] {
  const codec = compression === "zstd" ? "--use-compress-program=zstd" : "--gzip";
  return ["tar", "-x", codec, "-f", file, ...TAR_SAFE];
}

/** What every unpack gives GNU tar (tarExtract's doc says why). */
const TAR_SAFE = ["--no-same-owner", "--no-same-permissions", "--no-overwrite-dir"];

/**
 * The unpack scripts' first lines. The umask is set, not inherited: a deploy user with a
 * hardened umask (027, 077) would otherwise make the release, its manifest and its venv
 * unreadable to an app running as another user. With 022 every file keeps the mode its layer
 * gives it, minus group and other write; who may reach the tree is up to <root>'s own mode.
 */
const UNPACK_PRELUDE = `set -e
umask 022`;

/**
 * Unpack the venv layer beside its final place, check it (host-check.ts), mark it complete,
 * then rename it into <root>/virtualenvs/<key>: the venv directory only ever appears whole.
 */
const UNPACK_VENV = `${HOST_CHECK}${FETCH_FN}${STREAM_UNTAR_FN}${INTERPRETER_LINE_FN}
${UNPACK_PRELUDE}
root=$1 key=$2 file=$3 py1=$4 py2=$5 sha=$6 url=$7 mark=$8 manifest=; shift 8
final="$root/virtualenvs/$key"
if [ -n "$url" ]; then
  # Pulled (fetch.ts): only when it is missing; the credentials came on stdin.
  curl_config=$(cat)
fi
# What stdin still holds is left unread (the session drains it; a command of its own just ends).
if [ -f "$final/.slipway-complete" ]; then rm -f "$file"; echo present; exit 0; fi
tmp="$root/virtualenvs/.tmp-$key-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
# Pulled ($url) or received on stdin ($sha): unpacked as it arrives (its tar reads -f -).
if [ -n "$url" ]; then fetch_untar "$tmp" venv "$sha" "$url" "$@"
elif [ -n "$sha" ]; then stream_untar "$tmp" venv "$sha" "$@"
else untar "$tmp" venv "$@"; fi
reserved "$tmp" venv .slipway-complete
check_tree "$tmp" venv "$py1" "$py2"
# The mark names the interpreter the preflight checked, if it is still that file (interpreter-mark.ts).
line=
! interp_holds "$mark" "$py1" "$py2" || line=$mark
printf '%s\\n' "$line" > "$tmp/.slipway-complete"
# Never remove a complete venv: a deploy killed mid-way can leave this script running on the
# host after the next deploy installed the same venv. Only an incomplete leftover is moved aside.
if [ -d "$final" ] && [ ! -f "$final/.slipway-complete" ]; then
  mv -T "$final" "$root/virtualenvs/.tmp-stale-$key-$$" && rm -rf "$root/virtualenvs/.tmp-stale-$key-$$"
fi
if ! mv -T "$tmp" "$final" 2>/dev/null; then
  rm -rf "$tmp"; rm -f "$file"
  [ -f "$final/.slipway-complete" ] && { echo present; exit 0; }
  echo "cannot move the venv into $final" >&2; exit 1
fi
rm -f "$file"
echo unpacked`;

/**
 * `interpreters`: the manifest's env.python.configured and .executable, the only places outside
 * the venv its symlinks may lead to. Without them the host allows links to any executable python*.
 */
export function unpackVenv(root: string, key: string, file: string, compression: Compression, interpreters: readonly string[] = [], mark = ""): string[] {
  return sh(UNPACK_VENV, root, key, file, interpreters[0] ?? "", interpreters[1] ?? "", "", "", mark, ...tarExtract(file, compression));
}

/**
 * Pull the venv's layer (`digest`, sha256 hex) from `url` unless the host has the venv, verify
 * it, unpack it (`tarFlags`: an OCI layer's prefix and exclusions, fetch.ts pulledTarFlags): one
 * round trip. The command's stdin is the curl config (fetch.ts layerFetch); url `-`: the URL is in it.
 */
export function pullVenv(
  root: string,
  key: string,
  file: string,
  digest: string,
  url: string,
  interpreters: readonly string[],
  compression: Compression,
  tarFlags: readonly string[],
  bounds: StreamBounds,
  /** The venv mark's line for the interpreter the preflight checked (interpreter-mark.ts), or "". */
  mark = "",
): string[] {
  return sh(UNPACK_VENV, root, key, file, interpreters[0] ?? "", interpreters[1] ?? "", digest, url, mark, ...streamArgs(bounds, compression), ...tarFlags);
}

/** What a streamed layer may bring: its own size, and at most this much tar once decompressed. */
export interface StreamBounds {
  /** The layer's (or blob's) size in bytes. */
  bytes: number;
  /** The sum of its files' sizes, and their number (the manifest's unpacked_size and files). */
  unpacked: number;
  files: number;
  /** Entries the layer may hold beyond `files` (an OCI layer's prefix dirs and marks). */
  extraEntries?: number;
}

/** hashed_untar's IN_BYTES OUT_BYTES CODEC TAR... for a layer streamed into tar. */
function streamArgs(b: StreamBounds, compression: Compression): string[] {
  const out = unpackAllowance(b.unpacked, b.files + 2 + (b.extraEntries ?? 0));
  return [String(b.bytes), String(out), compression, "tar", "-x", "-f", "-", ...TAR_SAFE];
}

/**
 * Unpack the venv layer from stdin as it arrives, verify its sha256 on the host, check it and
 * rename it into place: one round trip, and no copy of the layer on the host's disk. `file` only
 * names the layer in messages (nothing is written there).
 */
export function stageVenv(
  root: string,
  key: string,
  file: string,
  sha256: string,
  compression: Compression,
  interpreters: readonly string[],
  bounds: StreamBounds,
  /** The venv mark's line for the interpreter the preflight checked (interpreter-mark.ts), or "". */
  mark = "",
): string[] {
  return sh(UNPACK_VENV, root, key, file, interpreters[0] ?? "", interpreters[1] ?? "", sha256, "", mark, ...streamArgs(bounds, compression));
}

/**
 * Unpack the code layer into a temporary dir beside the releases, check it (host-check.ts),
 * add the manifest, link the venv, the shared dirs and the linked files (`=path` in `shared`:
 * refused, exit 3, when the layer holds that path), write the completion mark last
 * (complete.ts), then rename it to releases/<build_id>. A complete release that is already
 * there is reused if its manifest is byte-identical, refused (exit 3) otherwise; an incomplete
 * one (a prune or crash left it gutted) is staged again and replaced — unless it is `current`,
 * which is never moved from under the running app (exit 3).
 */
const UNPACK_RELEASE = `${HOST_CHECK}${RECEIVE_FN}${FETCH_FN}${RELEASE_STATE_FN}${INTERPRETER_LINE_FN}
${UNPACK_PRELUDE}
root=$1 build=$2 key=$3 file=$4 manifest=$5 shared=$6 manifest_sha=$7 manifest_size=$8 code_sha=$9
manifest_dict=\${10} py=\${11} inflate=\${12} manifest_codec=\${13} url=\${14} mark=\${15}; shift 15
final="$root/releases/$build"
if [ -n "$code_sha" ]; then
  [ -d "$root/.slipway/incoming" ] || mkdir -p "$root/.slipway/incoming"
  receive "$manifest" "$manifest_sha" "$manifest_size" "$manifest_dict" "$py" "$manifest_codec"
  # Pulled (fetch.ts): the rest of stdin is the curl config.
  if [ -n "$url" ]; then curl_config=$(cat); fetch "$file" "$code_sha" "$url"
  else receive "$file" "$code_sha"; fi
fi
case $(release_states "$root" "$build") in
  complete*|legacy*)
    if cmp -s "$manifest" "$final/slipway.json"; then rm -f "$file" "$manifest"; echo present; exit 0; fi
    echo "release $build already exists on this host with a different manifest" >&2; exit 3;;
  incomplete*)
    if [ "$(readlink "$root/current" 2>/dev/null)" = "releases/$build" ]; then
      rm -f "$file" "$manifest"
      echo "release $build on this host is incomplete (no ${COMPLETE_MARK} that agrees with its slipway.json) and it is current: roll back or deploy another build first, then deploy $build again" >&2; exit 3
    fi;;
esac
tmp="$root/releases/.tmp-$build-$$"
if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -rf "$tmp"; fi
mkdir -p "$tmp"
untar "$tmp" code "$@"
reserved "$tmp" code slipway.json virtualenv ${COMPLETE_MARK}
check_tree "$tmp" code
mv -f "$manifest" "$tmp/slipway.json"
chmod 644 "$tmp/slipway.json"
ln -s "$root/virtualenvs/$key" "$tmp/virtualenv"
if [ -n "$shared" ]; then
  old_ifs=$IFS; IFS=:
  for d in $shared; do
    IFS=$old_ifs
    case $d in
      =*)
        # A linked file (=path): the host's own, never one from the artifact.
        f=\${d#=}
        if [ -e "$tmp/$f" ] || [ -L "$tmp/$f" ]; then
          rm -rf "$tmp"; rm -f "$file"
          echo "the code layer holds $f, which deploy.linked_files links from $root/shared/$f" >&2; exit 3
        fi
        p=$tmp/$f; [ -d "\${p%/*}" ] || mkdir -p "\${p%/*}"
        ln -s "$root/shared/$f" "$tmp/$f";;
      *)
        [ -d "$root/shared/$d" ] || mkdir -p "$root/shared/$d"
        if [ -e "$tmp/$d" ] || [ -L "$tmp/$d" ]; then rm -rf "$tmp/$d"; fi
        p=$tmp/$d; [ -d "\${p%/*}" ] || mkdir -p "\${p%/*}"
        ln -s "$root/shared/$d" "$tmp/$d";;
    esac
  done
  IFS=$old_ifs
fi
sum=$(sha256sum < "$tmp/slipway.json") || sum=
printf '%s\\n' "\${sum%% *}" > "$tmp/${COMPLETE_MARK}"
# Only an incomplete leftover is moved aside (checked again now: a killed earlier run's script
# may have just renamed a complete one into place).
case $(release_states "$root" "$build") in
  incomplete*) mv -T "$final" "$root/releases/.tmp-stale-$build-$$" && rm -rf "$root/releases/.tmp-stale-$build-$$";;
esac
# rename(2) onto an existing release fails (-T: never "into" it): another run got there first.
if ! mv -T "$tmp" "$final" 2>/dev/null; then
  same=0
  case $(release_states "$root" "$build") in complete*|legacy*) cmp -s "$tmp/slipway.json" "$final/slipway.json" && same=1;; esac
  rm -rf "$tmp"; rm -f "$file"
  [ $same = 1 ] && { echo present; exit 0; }
  echo "cannot move the release into $final (another release $build is there)" >&2; exit 3
fi
rm -f "$file"
# A venv whose mark lacks the line of the interpreter the preflight just checked (an older
# slipway's, or a changed interpreter's) gets it, if that is still the file: the next deploy of
# this key need not start it (interpreter-mark.ts). Written beside the venvs, under a temp name
# the venv layer cannot hold and the next lock's cleanup removes, then renamed into place: the
# mark never goes missing.
vm="$root/virtualenvs/$key/.slipway-complete"
if [ -n "$mark" ] && [ -f "$vm" ]; then
  m=; { read -r m < "$vm"; } 2>/dev/null || true
  if [ "$m" != "$mark" ] && interp_holds "$mark" "$py" ""; then
    vt="$root/virtualenvs/.tmp-mark-$key-$$"
    { rm -rf "$vt" && printf '%s\\n' "$mark" > "$vt" && mv -f "$vt" "$vm"; } 2>/dev/null || { rm -rf "$vt"; } 2>/dev/null || true
  fi
fi
echo unpacked`;

export function unpackRelease(
  root: string,
  buildId: string,
  key: string,
  file: string,
  manifestFile: string,
  shared: readonly string[],
  compression: Compression,
  /** The configured interpreter and the venv mark's line the preflight made for it (stageRelease's `mark`). */
  interpreter: { python: string; mark: string } = { python: "", mark: "" },
): string[] {
  const { python, mark } = interpreter;
  return sh(
    UNPACK_RELEASE,
    root,
    buildId,
    key,
    file,
    manifestFile,
    shared.join(":"),
    "",
    "",
    "",
    "",
    python,
    "",
    "",
    "",
    mark,
    ...tarExtract(file, compression),
  );
}

/**
 * Receive the manifest and the code layer on stdin (the manifest's `size` bytes first — a delta
 * against the host's current manifest when `manifestDelta` is given, expanded by zstd or by
 * `python`), verify both sha256 on the host, and unpack the release: one round trip for a
 * code-only deploy.
 */
export function stageRelease(
  root: string,
  buildId: string,
  key: string,
  files: { code: string; codeSha: string; manifest: string; manifestSha: string; manifestSize: number; manifestDelta?: ManifestDelta; python: string },
  shared: readonly string[],
  compression: Compression,
  /** Pull the code layer from this URL (codeSha is its digest; `-`: the URL is in the curl config), unpacking it with `tarFlags` (fetch.ts pulledTarFlags). */
  pull?: { url: string; tarFlags: readonly string[] },
  /** The venv mark's line for the interpreter the preflight checked (interpreter-mark.ts), or "": written into the venv's mark if it lacks it. */
  mark = "",
): string[] {
  const delta = files.manifestDelta;
  const deflated = delta?.codec === "deflate";
  return sh(
    UNPACK_RELEASE,
    root,
    buildId,
    key,
    files.code,
    files.manifest,
    shared.join(":"),
    files.manifestSha,
    String(files.manifestSize),
    files.codeSha,
    delta?.dictionary ?? "",
    files.python, // the deflate delta's expander, and the interpreter the venv's mark names
    deflated ? INFLATE : "",
    delta?.codec ?? "",
    pull?.url ?? "",
    mark,
    ...tarExtract(files.code, compression),
    ...(pull?.tarFlags ?? []),
  );
}
