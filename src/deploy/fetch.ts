import type { Compression } from "../artifact/compress.js";

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
 * curl's error, if any, and the hash come back on one stream (the hash line last: sha256_in
 * (host-check.ts) prints it after curl has ended). A transfer error exits 1 (the host could not get the
 * blob: nothing is refused); a blob that arrived whole but is not the one named exits 3.
 * URL `-`: the URL is in the curl config itself (an S3 presigned URL, whose signature is the
 * credential: never an argument).
 *
 * `fetch_untar DIR LAYER SHA256 URL IN_BYTES OUT_BYTES CODEC TAR...`: the same fetch, unpacked into DIR as it arrives,
 * with no copy of the blob on disk (host-check.ts hashed_untar, which the script must hold too).
 */
export const FETCH_FN = `
fetch_from() {
  if [ "$1" = - ]; then from="the S3 store (presigned URL)"; fetch_url=; else from="the registry ($1)"; fetch_url=$1; fi
}
fetch_curl() {
  printf '%s\\n' "$curl_config" | curl -fsSL --proto =http,https --proto-redir =http,https --connect-timeout 10 --speed-limit 1 --speed-time 60 --config - \${fetch_url:+"$fetch_url"}
}
fetch() {
  part="$1.part"
  fetch_from "$3"
  res=$( { fetch_curl 2>&3 | tee "$part" | sha256_in; } 3>&1 ) || true
  actual=$(printf '%s\\n' "$res" | tail -n 1 | cut -d' ' -f1)
  why=$(printf '%s\\n' "$res" | sed '$d' | tail -n 3 | tr '\\n' ' ')
  if [ -n "$why" ]; then rm -f "$part"; echo "cannot fetch $(basename "$1") from $from: $why" >&2; exit 1; fi
  case $actual in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;; *) rm -f "$part"; echo "cannot hash $(basename "$1") on this host" >&2; exit 1;; esac
  if [ "$actual" != "$2" ]; then rm -f "$part"; echo "refused $(basename "$1") from $from: its bytes hash to sha256:$actual, not the digest asked for" >&2; exit 3; fi
  mv -f "$part" "$1"
}
fetch_untar() {
  d=$1 layer=$2 want=$3; fetch_from "$4"; shift 4
  hashed_untar "$d" "$layer" fetch_curl "$@"
  # curl could not write on: the blob was longer than its size (head -c stopped reading).
  case $why in *"(23)"*) why=;; esac
  if [ -n "$why" ]; then rm -rf "$d"; echo "cannot fetch $(basename "$file") from $from: $why" >&2; exit 1; fi
  if [ "$actual" != "$want" ]; then rm -rf "$d"; echo "refused $(basename "$file") from $from: its bytes hash to sha256:$actual, not the digest asked for" >&2; exit 3; fi
  [ "$tar_rc" = 0 ] || untar_failed "$d" "$layer" "$out"
}`;

/** What a pull needs: where the blobs are, and the header that lets the host read them. */
export interface PullSource {
  /** http(s)://host:port/v2/<repo>/blobs/ ("" for an S3 store: each layer has its presign). */
  blobs: string;
  /** "Bearer …" or "Basic …", or none for an open registry. Never logged. */
  authorization?: string;
}

/**
 * One layer as a host pulls it: its blob's digest (sha256 hex), its entries' prefix in the image
 * and what the host leaves out — or, from an S3 store, the artifact's own layer (no prefix, its
 * compression) and a presigned GET URL made when the host is staged (short-lived; it goes to the
 * host inside the curl config on stdin, never as an argument). Never logged.
 */
export interface PulledLayer {
  digest: string;
  size: number;
  /** The layer's entries' prefix in the OCI image; none: the artifact's layer as it is. */
  prefix?: string;
  exclude: string[];
  /** The artifact layer's compression (S3); OCI layers are gzip. */
  compression?: Compression;
  presign?: () => Promise<string>;
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

/** The curl config for one S3 layer: its presigned URL (the credential itself). */
export function presignedConfig(url: string): string {
  if (/[\r\n"\\]/.test(url)) throw new Error("a presigned URL cannot hold a line break, a quote or a backslash");
  return `url = "${url}"\n`;
}

/** The config a host's curl reads for a layer, and the URL argument of `fetch` ("-": the URL is in the config). */
export async function layerFetch(src: PullSource, layer: PulledLayer): Promise<{ config: Buffer; url: string }> {
  if (layer.presign) return { config: Buffer.from(presignedConfig(await layer.presign())), url: "-" };
  return { config: Buffer.from(curlConfig(src)), url: blobUrl(src, `sha256:${layer.digest}`) };
}

/** GNU tar flags for a pulled layer: an OCI layer's (below), or none for an artifact layer. */
export function pulledTarFlags(layer: PulledLayer): string[] {
  return layer.prefix === undefined ? [] : ociTarFlags(layer.prefix, layer.exclude);
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
