import { connect } from "node:net";
import { SlipwayError } from "../errors.js";
import { sh } from "../deploy/layout.js";
import type { Transport } from "../transport/types.js";

/** Sends one runtime-API command to an HAProxy admin socket and returns the reply. */
export interface RuntimeApi {
  readonly where: string;
  send(command: string): Promise<string>;
  close(): Promise<void>;
}

/** Where the socket is: a unix path, or "tcp:HOST:PORT". */
export function parseSocket(socket: string): { path: string } | { host: string; port: number } {
  const m = /^tcp:(.+):([0-9]{1,5})$/.exec(socket);
  return m ? { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) } : { path: socket };
}

/** The socket on this machine: spoken to directly. */
export function localRuntime(socket: string, timeoutMs = 5000): RuntimeApi {
  const target = parseSocket(socket);
  return {
    where: `local ${socket}`,
    send: (command) =>
      new Promise((resolve, reject) => {
        const s = "path" in target ? connect(target.path) : connect(target.port, target.host);
        const chunks: Buffer[] = [];
        s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer from ${socket} within ${timeoutMs} ms`)));
        s.on("connect", () => s.end(`${command}\n`));
        s.on("data", (c: Buffer) => chunks.push(c));
        s.on("error", (err) =>
          reject(
            new SlipwayError(
              `HAProxy runtime API at ${socket}: ${err.message}`,
              "check haproxy.socket and that HAProxy runs with `stats socket ... level admin`",
            ),
          ),
        );
        s.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
      }),
    close: async () => {},
  };
}

/**
 * The socket on another host, over the same ssh transport as the app hosts: socat if the host
 * has it, else python3 (one of them is on any machine that runs HAProxy's tooling).
 */
const REMOTE = `
sock=$1 cmd=$2
case "$sock" in tcp:*) addr=\${sock#tcp:}; socat_addr="TCP:$addr";; *) socat_addr="UNIX-CONNECT:$sock";; esac
if command -v socat >/dev/null 2>&1; then printf '%s\\n' "$cmd" | socat -t 5 stdio "$socat_addr"; exit; fi
exec python3 -c '
import socket, sys
sock, cmd = sys.argv[1], sys.argv[2]
if sock.startswith("tcp:"):
    host, port = sock[4:].rsplit(":", 1)
    s = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
else:
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sock)
s.sendall(cmd.encode() + b"\\n")
s.shutdown(socket.SHUT_WR)
while True:
    d = s.recv(65536)
    if not d: break
    sys.stdout.write(d.decode())
' "$sock" "$cmd"`;

export function remoteRuntimeCommand(socket: string, command: string): string[] {
  return sh(REMOTE, socket, command);
}

export function remoteRuntime(transport: Transport, socket: string): RuntimeApi {
  return {
    where: `${transport.host} ${socket}`,
    async send(command) {
      const r = await transport.exec(remoteRuntimeCommand(socket, command));
      if (r.code !== 0) {
        throw new SlipwayError(
          `HAProxy runtime API at ${transport.host}:${socket} failed (exit ${r.code}): ${r.stderr.trim()}`,
          "install socat (or python3) on the load balancer host and check haproxy.socket",
        );
      }
      return r.stdout;
    },
    close: () => transport.close(),
  };
}
