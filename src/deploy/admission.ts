import { timed, type Emit } from "../events.js";
import type { ArtifactHead } from "../artifact/read.js";
import { verifyArtifact } from "../artifact/verify.js";
import type { CheckedLayers } from "../artifact/checked-layers.js";
import type { Manifest } from "../artifact/manifest.js";
import { checkServers, type Balancer } from "../lb/balancers.js";
import { parseProbe, probeHost, type HostState } from "./probe.js";
import type { HostSession } from "./session.js";
import { settleAll } from "../util/pool.js";

export interface Admission {
  states: Map<string, HostState>;
  verifyMs: number;
}

/**
 * The read-only checks before anything is written anywhere, run together: the artifact
 * verified (every layer, also one no host will be sent: a damaged or tampered artifact is
 * refused whole) and extracted here, the HAProxy servers looked up, and each host's preflight —
 * the first command on a host, once its connection (opened with the sessions) is up, so the
 * ssh handshakes overlap the local work. A failure is
 * reported in that order of precedence (a bad artifact before an unknown server before a host
 * problem).
 */
export async function admit(a: {
  file: string;
  head: ArtifactHead;
  work: string;
  sessions: readonly HostSession[];
  balancers: readonly Balancer[];
  hosts: readonly string[];
  emit: Emit;
  /** Layers this machine already entry-checked (checked-layers.ts): those are only re-hashed. */
  checked?: CheckedLayers;
  /** deploy.linked_files: the preflight reports those a host lacks. */
  linkedFiles?: readonly string[];
  /** Pull mode: what a host's preflight GETs to check it reaches its registry or S3 store (source.ts preflightUrl), else "". */
  registryOf?: (host: string) => string;
}): Promise<Admission> {
  const verifying = timed(a.emit, "verify", () =>
    verifyArtifact(a.file, { extract: { dir: a.work, layers: [a.head.manifest.layers[0]!.name] }, head: a.head, checked: a.checked }),
  );
  const probing = a.sessions.map((s) => preflightHost(s, a.head.manifest, a.linkedFiles ?? [], a.registryOf?.(s.host) ?? ""));
  await settleAll<unknown>([verifying, checkServers(a.balancers, a.hosts), ...probing]); // all settle; the first failure, in this order, is thrown
  const probed = await Promise.all(probing);
  return { states: new Map(a.sessions.map((s, i) => [s.host, probed[i]!])), verifyMs: (await verifying).ms };
}

async function preflightHost(s: HostSession, m: Manifest, linkedFiles: readonly string[], registry: string): Promise<HostState> {
  await s.connect(); // (its own step: the preflight's time is the probe's alone)
  return s.step(
    "preflight",
    async () => parseProbe((await s.run("preflight", probeHost(m.root, m.env.python, m.build_id, m.env.key, linkedFiles, registry))).stdout),
    (st) => (st.venvPresent ? (st.pythonUnchanged ? "venv present, interpreter unchanged since it was unpacked" : "venv present") : "venv missing"),
  );
}
