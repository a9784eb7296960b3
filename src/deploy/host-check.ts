/*
 * The host's own check of an unpacked layer, for an artifact that got past the deployer's
 * checks (src/artifact/entries.ts) some other way. Shell functions prepended to the unpack
 * scripts in stage.ts; they run in the temporary dir, before the rename, so a refusal
 * (exit 3) removes the dir and the received layer and leaves the host as it was.
 *
 * check_tree is one walk of the dir (it runs on every deploy, so it stays one find): it names
 * what must never be there — device nodes, FIFOs, sockets, setuid/setgid files (not dirs: a
 * setgid <root> hands its bit to every new dir, and that only shares a group), names with a
 * newline (which would split the lines read below) — and resolves every symlink with one
 * realpath call: each must stay inside the dir, except, in a venv, the link to the manifest's
 * interpreter (preflight made sure `executable` is its real path on this host). Hard links
 * need no check: GNU tar strips `/` and `..` from their targets, so they name files inside.
 * The callers set $file (the received layer), and $manifest if they have one, before calling
 * any of these: a refusal removes them too.
 *
 * `sha256_in` hashes stdin and prints the hex digest first on its line. It is OpenSSL's when the
 * host has an `openssl` that works (it hashes nothing to the empty string's digest): on a CPU with SHA extensions that is 5–7× less CPU than coreutils'
 * `sha256sum` (0.12 s against 0.82 s for a 167 MB venv layer, measured), which on a busy host
 * competes with ssh, zstd and tar for the same cores. Without it, `sha256sum`. The files a
 * code-only deploy receives (manifest, code layer: kilobytes) keep `sha256sum`, which starts
 * faster than the two openssl runs this takes.
 *
 * `hashed_untar DIR LAYER PRODUCER IN_BYTES OUT_BYTES CODEC TAR...` unpacks what the shell
 * function PRODUCER writes (stdin, or a fetch) into DIR as it arrives, with no copy of the layer
 * on disk, while `sha256_in` hashes the same bytes (`tee -p` into a second pipe, /dev/fd/5:
 * no fifo, so nothing waits on one). At most IN_BYTES are read (the layer's size) and at most
 * OUT_BYTES of decompressed tar reach GNU tar (its files plus framing, as the deployer allows:
 * artifact/limits.ts), so a decompression bomb that is not the layer asked for stops there.
 * It leaves the hash in $actual, the producer's last error lines in $why (kept meanwhile in a
 * file only the deploy user reads), and tar's status and output in $tar_rc and $out: the
 * caller checks the hash before anything else. Until then tar has read unverified bytes, but
 * only into the run's private DIR (GNU tar's own guards hold: no `..`, nothing written through
 * a symlink), which nothing uses before check_tree and the rename. `tee -p` goes on feeding the
 * hash when tar stops early, so a layer spoiled on the way is named as such, and a whole one
 * that tar refused as tar's refusal.
 */
export const SHA256_IN_FN = `
sha256_in() {
  case $(printf '' | openssl dgst -sha256 -r 2>/dev/null) in
    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855*) openssl dgst -sha256 -r;;
    *) sha256sum;;
  esac
}`;

export const HOST_CHECK = `${SHA256_IN_FN}
refuse() { rm -rf "$1"; rm -f "$file" \${manifest:+"$manifest"}; printf '%s\\n' "refused the $2 layer after unpacking it: $3" >&2; exit 3; }
untar() {
  d=$1 layer=$2; shift 2
  out=$("$@" -C "$d" 2>&1) || untar_failed "$d" "$layer" "$out"
}
decompress() {
  case $1 in zstd) zstd -q -d -c;; gzip) gzip -d -c;; *) echo "unknown layer compression $1" >&2; return 2;; esac
}
hashed_untar() {
  d=$1 layer=$2 producer=$3 in_bytes=$4 out_bytes=$5 codec=$6; shift 6
  rm -f "$d.err"; (umask 077; : > "$d.err")
  res=$( { { "$producer" 2>>"$d.err" | head -c "$in_bytes" | tee -p /dev/fd/5 |
    { { decompress "$codec" | head -c "$out_bytes" | "$@" -C "$d"; } 2>&1 && echo tar_rc=0 || echo "tar_rc=$?"; } >&6; } 5>&1 | sha256_in; } 6>&1 )
  actual=$(printf '%s\\n' "$res" | tail -n 1 | cut -d' ' -f1)
  tar_rc=$(printf '%s\\n' "$res" | sed -n 's/^tar_rc=//p' | tail -n 1)
  out=$(printf '%s\\n' "$res" | sed -e '$d' -e '/^tar_rc=/d')
  why=$(tail -n 3 "$d.err" | tr '\\n' ' ')
  rm -f "$d.err"
  case $actual in
    [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;;
    *) rm -rf "$d"; echo "cannot hash the $layer layer on this host (the hash gave: $actual)" >&2; exit 1;;
  esac
}
untar_failed() {
  case $3 in
    *"No space left"*|*"Disk quota"*|*"Read-only file system"*|*"Permission denied"*)
      rm -rf "$1"; rm -f "$file" \${manifest:+"$manifest"}; printf '%s\\n' "$3" >&2; exit 1;;
  esac
  refuse "$1" "$2" "tar refused it: $3"
}
reserved() {
  d=$1 layer=$2; shift 2
  for n in "$@"; do
    if [ -e "$d/$n" ] || [ -L "$d/$n" ]; then refuse "$d" "$layer" "it has $n, which the host creates itself"; fi
  done
}
check_tree() {
  d=$(cd -P -- "$1" && pwd -P) layer=$2 py1=\${3-} py2=\${4-}
  nl='
'
  found=$(find "$d" \\( -type b -o -type c -o -type p -o -type s -o -type f -perm -4000 -o -type f -perm -2000 -o -name "*$nl*" \\) \\
      -exec printf 'unsafe:%s\\n' {} + -o -type l -exec realpath -m -- {} +) ||
    refuse "$1" "$layer" "find or realpath failed on it (a directory it cannot read?)"
  while IFS= read -r p; do
    case $p in ""|"$d"|"$d"/*) continue;; esac
    case $p in unsafe:*) refuse "$1" "$layer" "it has a device node, FIFO, socket, setuid or setgid file, or a name with a newline: \${p#unsafe:}";; esac
    if [ "$p" = "$py1" ] || [ "$p" = "$py2" ]; then continue; fi
    # No interpreter passed (an older caller): a venv may still link to an executable python*.
    if [ "$layer" = venv ] && [ -z "$py1$py2" ]; then
      case \${p##*/} in python*) if [ -f "$p" ] && [ -x "$p" ]; then continue; fi;; esac
    fi
    refuse "$1" "$layer" "a symlink in it resolves outside it, to $p"
  done <<SLIPWAY_LINKS
$found
SLIPWAY_LINKS
}`;
