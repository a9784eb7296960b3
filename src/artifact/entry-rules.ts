import { NO_CONTROL_CHARS } from "../config/patterns.js";
import { LIMITS, type Limits, unpackAllowance } from "./limits.js";

/** One tar entry as the parser reports it (after pax and GNU long-name records are applied). */
export interface EntryHeader {
  name: string;
  type: string | null;
  mode: number;
  size: number;
  linkname?: string | null;
  /** The entry's own pax records, if it had any. */
  pax?: Record<string, string> | null;
}

/** What one layer must be, from the manifest. */
export interface LayerRules {
  layer: "code" | "venv";
  /** Sum of regular file sizes the manifest declares. */
  unpackedSize: number;
  /** Number of tar entries the manifest declares. */
  files: number;
  /** Absolute symlink targets allowed in this layer: the venv's link to its interpreter. */
  allowedTargets: readonly string[];
  /** Top-level names the host creates itself, so the layer must not. */
  reserved: readonly string[];
}

/** A layer entry (or the layer as a whole) that slipway will not unpack; the message names it. */
export class EntryProblem extends Error {}

type Kind = "file" | "directory" | "symlink" | "link";

/** pax records our writer (tar-stream) emits; GNU tar acts on others (sparse maps, sizes) that tar-stream ignores. */
const PAX_KEYS = new Set(["path", "linkpath"]);
const MAX_LINK_HOPS = 40;

/**
 * The rules every layer entry must pass before anything reaches a host. Fed the entries in
 * order by `add`; `finish` checks the totals against the manifest and resolves every symlink
 * through the others (a link to a link to `..` escapes as surely as `..` does).
 * Pure: no I/O, so it is tested on headers alone.
 */
export class EntryRules {
  private readonly kinds = new Map<string, Kind>();
  private readonly implied = new Set<string>();
  private readonly symlinks = new Map<string, string>();
  entries = 0;
  /** Sum of regular file sizes so far (as declared by their headers). */
  bytes = 0;

  constructor(
    readonly rules: LayerRules,
    private readonly limits: Limits = LIMITS,
  ) {}

  /** Decompressed bytes the layer may have produced so far: file data plus framing; more is a bomb. */
  streamAllowance(): number {
    return unpackAllowance(this.bytes, this.entries + 2, this.limits);
  }

  add(h: EntryHeader): void {
    this.entries++;
    if (this.entries > this.rules.files) throw new EntryProblem(`has more entries than the ${this.rules.files} its manifest declares`);
    if (this.entries > this.limits.entries) throw new EntryProblem(`has more than ${this.limits.entries} entries, the limit`);
    const kind = kindOf(h);
    const name = checkName(h.type === "directory" ? h.name.replace(/\/$/, "") : h.name, this.limits);
    const at = `entry ${show(name)}`;
    for (const key of Object.keys(h.pax ?? {})) {
      if (!PAX_KEYS.has(key)) throw new EntryProblem(`${at} carries the pax record ${show(key)}, which slipway never writes`);
    }
    if (h.mode & 0o4000) throw new EntryProblem(`${at} is setuid (mode ${octal(h.mode)})`);
    if (h.mode & 0o2000) throw new EntryProblem(`${at} is setgid (mode ${octal(h.mode)})`);
    if (h.mode & 0o1000) throw new EntryProblem(`${at} has the sticky bit (mode ${octal(h.mode)})`);
    if (kind !== "file" && h.size !== 0) throw new EntryProblem(`${at} is a ${kind} with ${h.size} bytes of data`);
    const top = name.split("/")[0]!;
    if (this.rules.reserved.includes(top)) {
      throw new EntryProblem(`${at} uses the name ${show(top)}, which the host creates itself in the ${this.rules.layer} layer`);
    }
    if (this.kinds.has(name)) throw new EntryProblem(`${at} appears twice`);
    this.checkParents(name, at);
    if (kind !== "directory" && this.implied.has(name)) throw new EntryProblem(`${at} is a ${kind}, but other entries are inside it`);
    if (kind === "file") this.addBytes(h.size, at);
    if (kind === "symlink") this.checkSymlink(name, h.linkname ?? "", at);
    if (kind === "link") this.checkHardlink(h.linkname ?? "", at);
    this.kinds.set(name, kind);
  }

  /** After the last entry: totals must equal the manifest's, and no symlink chain may lead out. */
  finish(): { entries: number; bytes: number } {
    if (this.entries !== this.rules.files) {
      throw new EntryProblem(`has ${this.entries} entries, its manifest declares ${this.rules.files}`);
    }
    if (this.bytes !== this.rules.unpackedSize) {
      throw new EntryProblem(`unpacks to ${this.bytes} bytes of files, its manifest declares ${this.rules.unpackedSize}`);
    }
    for (const [name, target] of this.symlinks) {
      const how = this.escapes(name, target);
      if (how) throw new EntryProblem(`entry ${show(name)} is a symlink to ${show(target)} that ${how}`);
    }
    return { entries: this.entries, bytes: this.bytes };
  }

  private addBytes(size: number, at: string): void {
    this.bytes += size;
    if (this.bytes > this.rules.unpackedSize) {
      throw new EntryProblem(`${at} takes the layer past the ${this.rules.unpackedSize} unpacked bytes its manifest declares`);
    }
    if (this.bytes > this.limits.unpackedBytes) {
      throw new EntryProblem(`${at} takes the layer past ${this.limits.unpackedBytes} unpacked bytes, the limit`);
    }
  }

  private checkParents(name: string, at: string): void {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const k = this.kinds.get(parent);
      if (k !== undefined && k !== "directory") throw new EntryProblem(`${at} is inside ${show(parent)}, which is a ${k}, not a directory`);
      this.implied.add(parent);
    }
  }

  private checkSymlink(name: string, target: string, at: string): void {
    checkLinkText(target, at, this.limits);
    if (target.startsWith("/")) {
      if (this.rules.allowedTargets.includes(target)) return;
      const allowed = this.rules.allowedTargets.length ? ` (only ${this.rules.allowedTargets.map(show).join(" or ")}, the interpreter, may be linked)` : "";
      throw new EntryProblem(`${at} is a symlink to ${show(target)}, outside the layer${allowed}`);
    }
    if (lexicallyOutside(name, target)) throw new EntryProblem(`${at} is a symlink to ${show(target)}, outside the layer`);
    this.symlinks.set(name, target);
  }

  private checkHardlink(target: string, at: string): void {
    checkLinkText(target, at, this.limits);
    const parts = target.split("/");
    if (target.startsWith("/") || parts.includes("..")) throw new EntryProblem(`${at} is a hard link to ${show(target)}, outside the layer`);
    if (this.kinds.get(target) !== "file") {
      throw new EntryProblem(`${at} is a hard link to ${show(target)}, which is not a regular file earlier in the layer`);
    }
  }

  /** Follow `target` from the link's directory through the layer's own symlinks; say how it escapes, if it does. */
  private escapes(name: string, target: string): string | undefined {
    const dir = name.split("/").slice(0, -1);
    let queue = target.split("/");
    let hops = 0;
    while (queue.length) {
      const c = queue.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (dir.length === 0) return "resolves outside the layer";
        dir.pop();
        continue;
      }
      const next = [...dir, c].join("/");
      const via = this.symlinks.get(next);
      const external = via === undefined && this.kinds.get(next) === "symlink";
      if (external) {
        // An allowed absolute link (the interpreter): fine as the end of the path, not as a directory.
        if (queue.some((q) => q !== "" && q !== ".")) return `resolves through ${show(next)} to outside the layer`;
        return undefined;
      }
      if (via !== undefined) {
        if (++hops > MAX_LINK_HOPS) return "loops through other symlinks";
        queue = [...via.split("/"), ...queue];
        continue;
      }
      dir.push(c);
    }
    return undefined;
  }
}

function kindOf(h: EntryHeader): Kind {
  switch (h.type) {
    case "file":
    case "directory":
    case "symlink":
    case "link":
      return h.type;
    case "character-device":
    case "block-device":
      throw new EntryProblem(`entry ${show(h.name)} is a device node (${h.type})`);
    case "fifo":
      throw new EntryProblem(`entry ${show(h.name)} is a FIFO`);
    default:
      throw new EntryProblem(`entry ${show(h.name)} has the tar type ${show(String(h.type ?? "unknown"))}, which slipway never writes`);
  }
}

/** A plain relative path: no leading `/`, no `..`, `.` or empty components, no control characters. */
function checkName(name: string, limits: Limits): string {
  if (!NO_CONTROL_CHARS.test(name)) throw new EntryProblem(`entry ${show(name)} has control characters in its name`);
  if (name.includes("\uFFFD")) throw new EntryProblem(`entry ${show(name)} has a name that is not valid UTF-8`);
  if (name.startsWith("/")) throw new EntryProblem(`entry ${show(name)} has an absolute path`);
  const parts = name.split("/");
  if (parts.includes("..")) throw new EntryProblem(`entry ${show(name)} has a .. component`);
  if (name === "" || parts.some((p) => p === "" || p === ".")) throw new EntryProblem(`entry ${show(name)} is not a plain relative path`);
  if (Buffer.byteLength(name) > limits.pathBytes || parts.some((p) => Buffer.byteLength(p) > limits.componentBytes)) {
    throw new EntryProblem(`entry ${show(name)} has a name longer than the system allows`);
  }
  return name;
}

function checkLinkText(target: string, at: string, limits: Limits): void {
  if (target === "") throw new EntryProblem(`${at} is a link with an empty target`);
  if (!NO_CONTROL_CHARS.test(target)) throw new EntryProblem(`${at} is a link whose target ${show(target)} has control characters`);
  if (Buffer.byteLength(target) > limits.pathBytes) throw new EntryProblem(`${at} is a link with a target longer than the system allows`);
}

/** `..` in the target climbs above the layer's top, counting from the link's own directory. */
function lexicallyOutside(name: string, target: string): boolean {
  let depth = name.split("/").length - 1;
  for (const c of target.split("/")) {
    if (c === "" || c === ".") continue;
    depth += c === ".." ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/** A name for a message: quoted, control characters escaped, long ones cut. */
export function show(s: string): string {
  const cut = s.length > 160 ? `${s.slice(0, 160)}…` : s;
  return `"${cut.replace(/[\p{Cc}"\\]/gu, (c) => (c === '"' || c === "\\" ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`))}"`;
}
