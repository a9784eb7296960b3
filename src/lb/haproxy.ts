/**
 * HAProxy's runtime API: command builders and parsers (pure). The commands go, one per
 * connection, to the admin socket (src/lb/runtime.ts).
 */

export type ServerState = "ready" | "drain" | "maint";

const NAME = /^[A-Za-z0-9_.:-]+$/;

function checkName(what: string, name: string): string {
  // Runtime API commands are whitespace-separated words: a name with spaces or newlines could add commands.
  if (!NAME.test(name)) throw new Error(`invalid HAProxy ${what} name ${JSON.stringify(name)}`);
  return name;
}

export function setServerState(backend: string, server: string, state: ServerState): string {
  return `set server ${checkName("backend", backend)}/${checkName("server", server)} state ${state}`;
}

export const SHOW_STAT = "show stat";
export const SHOW_SERVERS_STATE = "show servers state";

/** `show servers state <backend>`: one backend's rows, with each server's admin state. */
export function showServersState(backend: string): string {
  return `${SHOW_SERVERS_STATE} ${checkName("backend", backend)}`;
}

/** A reply to `set server`: empty when it worked, else HAProxy's message ("No such server."). */
export function setServerError(reply: string): string | undefined {
  const text = reply.trim();
  return text ? text : undefined;
}

export interface StatRow {
  pxname: string;
  svname: string;
  /** Current sessions: requests in flight on this server. */
  scur: number;
  /** Requests queued for this server (its maxconn reached): they still go to it. */
  qcur: number;
  /** UP, DOWN, DRAIN, MAINT, "UP 1/3", no check, … */
  status: string;
}

/** Parse `show stat` (CSV whose header line starts with "# "). */
export function parseShowStat(csv: string): StatRow[] {
  const lines = csv.split("\n").filter((l) => l.trim());
  const header = lines.shift();
  if (!header?.startsWith("# ")) throw new Error(`unexpected "show stat" output: ${csv.slice(0, 120)}`);
  const cols = header.slice(2).split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`"show stat" has no ${name} column`);
    return i;
  };
  const [px, sv, scur, qcur, status] = [at("pxname"), at("svname"), at("scur"), at("qcur"), at("status")];
  return lines.map((l) => {
    const f = l.split(",");
    return { pxname: f[px] ?? "", svname: f[sv] ?? "", scur: Number(f[scur] || 0), qcur: Number(f[qcur] || 0), status: f[status] ?? "" };
  });
}

export interface ServerStateRow {
  backend: string;
  server: string;
  address: string;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state bit field: 0x01 forced maint, 0x08 forced drain, … */
  adminState: number;
}

/** Parse `show servers state` (version line, "# " header, space-separated rows). */
export function parseServersState(text: string): ServerStateRow[] {
  const lines = text.split("\n").filter((l) => l.trim());
  const headerIndex = lines.findIndex((l) => l.startsWith("# be_id"));
  if (headerIndex < 0) throw new Error(`unexpected "show servers state" output: ${text.slice(0, 120)}`);
  const cols = lines[headerIndex]!.slice(2).split(" ");
  const at = (name: string) => cols.indexOf(name);
  return lines.slice(headerIndex + 1).map((l) => {
    const f = l.split(" ");
    return {
      backend: f[at("be_name")] ?? "",
      server: f[at("srv_name")] ?? "",
      address: f[at("srv_addr")] ?? "",
      opState: Number(f[at("srv_op_state")]),
      adminState: Number(f[at("srv_admin_state")]),
    };
  });
}

/**
 * What was set on a server by hand (runtime API) or in the configuration, from its
 * srv_admin_state bits: 0x01 forced maint, 0x04 `disabled` in the configuration, 0x08 forced
 * drain. States inherited from a tracked server (0x02, 0x10) or set by DNS (0x20) are not
 * anyone's choice for this server, so they read as "ready".
 */
export function adminState(bits: number): ServerState {
  if (bits & (0x01 | 0x04)) return "maint";
  if (bits & 0x08) return "drain";
  return "ready";
}

/** Requests that will still be served by this server: in flight, and queued for it. */
export function inFlight(row: StatRow | undefined): number {
  return row ? row.scur + row.qcur : 0;
}

/** HAProxy sends this server traffic: checked UP (exactly: "UP 1/2" is already failing checks), or not checked. */
export function isUp(status: string): boolean {
  return status === "UP" || status === "no check";
}

/** The server's row, or undefined when HAProxy does not know it. */
export function findServer(rows: readonly StatRow[], backend: string, server: string): StatRow | undefined {
  return rows.find((r) => r.pxname === backend && r.svname === server);
}
