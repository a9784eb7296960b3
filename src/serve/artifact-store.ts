/**
 * The server's artifact store. An upload is written to a temporary file, verified exactly as
 * `deploy` verifies (every member, layer hash and entry, the signature, the app's config and
 * trusted keys), then split: each layer's bytes go to a blob named by its sha256 (a venv layer
 * shared by many builds is stored once), and the rest of the tar (headers, manifest, signature,
 * padding) is kept as the artifact's skeleton. `materialize` joins them back into the very
 * bytes uploaded. Nothing half-written is ever visible: blobs and files appear by rename.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { loadConfig } from "../config/load.js";
import { ArtifactError } from "../errors.js";
import { readHead } from "../artifact/read.js";
import { verifyArtifact } from "../artifact/verify.js";
import { checkAgainstConfig } from "../artifact/admit.js";
import { CheckedLayers } from "../artifact/checked-layers.js";
import { cacheDir } from "../build/layer-cache.js";
import { ServeError } from "./errors.js";
import type { ArtifactRow } from "./model.js";
import type { Store, StoredArtifact } from "./store.js";

/** A run of the artifact's bytes: kept inline (base64) or a layer blob. */
type Segment = { bytes: string } | { blob: string; size: number };

export class ArtifactStore {
  constructor(
    private readonly store: Store,
    private readonly dataDir: string,
  ) {}

  private get tmpDir() {
    return path.join(this.dataDir, "tmp");
  }

  blobPath(sha: string): string {
    return path.join(this.dataDir, "blobs", "sha256", sha.slice(0, 2), sha);
  }

  /**
   * Receive an upload for `app` claiming `buildId`: at most `maxBytes`, verified against the
   * app's config. Throws ServeError 413/409/422 naming the problem; leaves nothing behind then.
   */
  async receive(app: string, configFile: string, buildId: string, body: Readable, maxBytes: number, uploadedBy: string): Promise<ArtifactRow> {
    const held = this.store.artifact(app, buildId);
    if (held) throw alreadyStored(app, buildId, held.sha256);
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = path.join(this.tmpDir, `upload-${randomBytes(8).toString("hex")}.tar`);
    try {
      let received = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _enc, done) {
          received += chunk.length;
          if (received > maxBytes) done(new ServeError(413, `the upload is larger than the server's limit of ${maxBytes} bytes`, "raise [server] max_upload"));
          else done(null, chunk);
        },
      });
      await pipeline(body, limit, createWriteStream(tmp, { mode: 0o600 }));
      if (received === 0) throw new ServeError(422, "the upload is empty", "send the artifact's bytes as the request body (slipway push)");
      const row = await this.admit(app, configFile, buildId, tmp, uploadedBy);
      return row;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async admit(app: string, configFile: string, buildId: string, file: string, uploadedBy: string): Promise<ArtifactRow> {
    let head: Awaited<ReturnType<typeof readHead>>;
    let report: Awaited<ReturnType<typeof verifyArtifact>>;
    let signer: string | undefined;
    try {
      head = await readHead(file);
      const m = head.manifest;
      if (m.build_id !== buildId)
        throw new ArtifactError(`the artifact is build ${m.build_id}, the URL says ${buildId}`, `PUT it to /api/apps/${app}/artifacts/${m.build_id}`);
      if (m.app !== app) throw new ArtifactError(`the artifact is for app ${m.app}, the URL says ${app}`, "upload it under its own app");
      const { config, file: cfgFile } = await loadConfig({ cwd: path.dirname(configFile), configPath: configFile });
      const { signature } = await checkAgainstConfig(file, head, config, path.dirname(cfgFile));
      if (config.deploy.trusted_keys.length > 0 && !signature?.trusted) {
        throw new ArtifactError(
          signature
            ? `the artifact is signed by ${signature.key_id}, which deploy.trusted_keys does not list`
            : "the artifact is not signed, and deploy.trusted_keys requires a signature",
          "sign it with a trusted key (slipway build --sign KEY)",
        );
      }
      signer = signature?.key_id;
      report = await verifyArtifact(file, { head, checked: new CheckedLayers(cacheDir(process.env)) });
    } catch (err) {
      if (err instanceof ArtifactError) throw new ServeError(422, stripTmp(err.message, file), err.hint);
      throw err;
    }
    const m = report.manifest;
    const { segments, blobs } = await this.split(file, m.layers);
    const size = (await stat(file)).size;
    const row: StoredArtifact = {
      app,
      build_id: buildId,
      sha256: report.sha256,
      size,
      venv_key: m.env.key,
      ...(m.git ? { commit: m.git.commit, dirty: m.git.dirty } : {}),
      ...(signer ? { signer } : {}),
      uploaded_at: new Date().toISOString(),
      uploaded_by: uploadedBy,
      manifest: head.manifestBytes.toString("utf8"),
      segments: JSON.stringify(segments),
    };
    try {
      this.store.addArtifact(row, blobs);
    } catch (err) {
      // Another upload of this build id was stored while this one was verified.
      const held = this.store.artifact(app, buildId);
      if (held) throw alreadyStored(app, buildId, held.sha256);
      throw err;
    }
    const { manifest: _m, segments: _s, ...out } = row;
    return out;
  }

  /** Cut the verified tar into inline runs and layer blobs (blobs already stored are not written again). */
  private async split(file: string, layers: readonly { member: string; sha256: string; size: number }[]) {
    const fh = await open(file, "r");
    try {
      const { size } = await fh.stat();
      const segments: Segment[] = [];
      const blobs: { sha256: string; size: number }[] = [];
      let inlineFrom = 0;
      let off = 0;
      const header = Buffer.alloc(512);
      while (off + 512 <= size) {
        await fh.read(header, 0, 512, off);
        if (header.every((b) => b === 0)) break;
        const name = cString(header, 0, 100);
        const prefix = header.subarray(257, 263).toString("latin1").startsWith("ustar") ? cString(header, 345, 155) : "";
        const full = prefix ? `${prefix}/${name}` : name;
        const bytes = parseOctal(header.subarray(124, 136));
        const dataAt = off + 512;
        const layer = layers.find((l) => l.member === full && l.size === bytes);
        if (layer) {
          segments.push({ bytes: await readRange(fh, inlineFrom, dataAt) });
          segments.push({ blob: layer.sha256, size: bytes });
          await this.putBlob(file, dataAt, bytes, layer.sha256);
          blobs.push({ sha256: layer.sha256, size: bytes });
          inlineFrom = dataAt + bytes;
        }
        off = dataAt + Math.ceil(bytes / 512) * 512;
      }
      segments.push({ bytes: await readRange(fh, inlineFrom, size) });
      return { segments, blobs };
    } finally {
      await fh.close();
    }
  }

  private async putBlob(file: string, start: number, bytes: number, sha: string): Promise<void> {
    const dest = this.blobPath(sha);
    try {
      if ((await stat(dest)).size === bytes) return;
    } catch {}
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await pipeline(bytes === 0 ? Readable.from([]) : createReadStream(file, { start, end: start + bytes - 1 }), createWriteStream(tmp, { mode: 0o600 }));
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Write the stored artifact `app/buildId`, byte for byte as uploaded, into `dir`; returns its path. */
  async materialize(app: string, buildId: string, dir: string): Promise<string> {
    const a = this.store.artifact(app, buildId);
    if (!a) throw new ServeError(404, `artifact ${app}/${buildId} not found`, `upload it first: slipway push ${app}-${buildId}.tar --server URL`);
    const out = path.join(dir, `${app}-${buildId}.tar`);
    const segments = JSON.parse(a.segments) as Segment[];
    const self = this;
    async function* bytes() {
      for (const s of segments) {
        if ("bytes" in s) yield Buffer.from(s.bytes, "base64");
        else if (s.size > 0) yield* createReadStream(self.blobPath(s.blob));
      }
    }
    await pipeline(Readable.from(bytes()), createWriteStream(out, { mode: 0o600 }));
    return out;
  }
}

/** 409 naming the artifact held under the build id (api/schemas.ts artifactConflictBody): push tells the same file from another. */
function alreadyStored(app: string, buildId: string, sha256: string): ServeError {
  return new ServeError(409, `artifact ${app}/${buildId} is already stored`, "a build id names one artifact: build again to get a new one", {
    build_id: buildId,
    sha256,
  });
}

function cString(buf: Buffer, start: number, len: number): string {
  const s = buf.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul === -1 ? len : nul).toString("utf8");
}

function parseOctal(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    // base-256 (GNU) for sizes past 8 GiB
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = cString(field, 0, field.length).trim();
  return s ? Number.parseInt(s, 8) : 0;
}

async function readRange(fh: Awaited<ReturnType<typeof open>>, from: number, to: number): Promise<string> {
  const buf = Buffer.alloc(to - from);
  if (buf.length) await fh.read(buf, 0, buf.length, from);
  return buf.toString("base64");
}

/** Error messages name the upload, not the server's temporary file. */
function stripTmp(message: string, file: string): string {
  return message.replaceAll(file, "the upload");
}
