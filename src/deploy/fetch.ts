/**
 * Pull mode on the host (docs/distribution.md): a layer is fetched from the registry by digest
 * with curl, hashed while it streams to disk, and given its name only when the digest matches —
 * the same contract as receiving it on stdin (stage.ts RECEIVE_FN). The unpack scripts then
 * treat it like a received layer: temp dir, host checks, rename.
 *
 * The registry's credentials (an Authorization header) reach the host on the command's stdin
 * only: the script holds them in a shell variable and hands them to curl as a config on its
 * stdin (`--config -`), with the shell's builtin printf — never a file, never an argument
 * that `ps` would show.
 */
/**
 * `fetch DEST SHA256 URL`: $curl_config holds curl config lines (the Authorization header).
 * curl's error, if any, and the hash come back on one stream (the hash line last: sha256sum
 * prints it after curl has ended). A transfer error exits 1 (the host could not get the
 * blob: nothing is refused); a blob that arrived whole but is not the one named exits 3.
 */
export const FETCH_FN = `
fetch() {
  part="$1.part"
  res=$( { printf '%s\\n' "$curl_config" | curl -fsSL --proto =http,https --proto-redir =http,https --connect-timeout 10 --speed-limit 1 --speed-time 60 --config - "$3" 2>&3 | tee "$part" | sha256sum; } 3>&1 ) || true
  actual=$(printf '%s\\n' "$res" | tail -n 1 | cut -d' ' -f1)
  why=$(printf '%s\\n' "$res" | sed '$d' | tail -n 3 | tr '\\n' ' ')
  if [ -n "$why" ]; then rm -f "$part"; echo "cannot fetch $(basename "$1") from the registry ($3): $why" >&2; exit 1; fi
  if [ "$actual" != "$2" ]; then rm -f "$part"; echo "refused $(basename "$1") from the registry ($3): its bytes hash to sha256:$actual, not the digest asked for" >&2; exit 3; fi
  mv -f "$part" "$1"
}`;

/** What a pull needs: where the blobs are, and the header that lets the host read them. */
export interface PullSource {
  /** http(s)://host:port/v2/<repo>/blobs/ */
  blobs: string;
  /** "Bearer …" or "Basic …", or none for an open registry. Never logged. */
  authorization?: string;
}

/** One layer as a host pulls it: its blob's digest (sha256 hex), its entries' prefix in the image, what the host leaves out. */
export interface PulledLayer {
  digest: string;
  size: number;
  prefix: string;
  exclude: string[];
}

/** What every pulling host of a deploy gets told (oci/publish.ts makes it). */
export interface PullLayers {
  source: PullSource;
  venv: PulledLayer;
  code: PulledLayer;
}

/** The curl config lines the host's curl reads on its stdin. */
export function curlConfig(src: PullSource): string {
  if (!src.authorization) return "";
  if (/[\r\n]/.test(src.authorization)) throw new Error("a registry Authorization header cannot hold a line break");
  const quoted = src.authorization.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return `header = "Authorization: ${quoted}"\n`;
}

export function blobUrl(src: PullSource, digest: string): string {
  return `${src.blobs}${digest}`;
}

/**
 * GNU tar flags, after tarExtract's, that unpack an OCI layer (oci/reroot.ts) as if it were the
 * artifact's layer: the entries under `prefix` (e.g. srv/ledger/releases/42) land at the top of
 * the temp dir (the prefix's parents, with fewer components, are skipped), and `exclude` — the
 * entries the image adds that the host makes itself (slipway.json, links, marks, `current`) —
 * are left out.
 */
export function ociTarFlags(prefix: string, exclude: readonly string[]): string[] {
  const strip = prefix.split("/").length;
  return [`--strip-components=${strip}`, "--anchored", "--no-wildcards", ...exclude.map((e) => `--exclude=${e}`)];
}
