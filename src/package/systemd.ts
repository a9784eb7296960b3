/** The systemd unit `[package.systemd]` asks for, shipped by the meta package. Pure. */
import type * as z from "zod";
import type { packageSystemdSchema } from "../config/schema.js";

export type SystemdConfig = z.infer<typeof packageSystemdSchema>;

export const unitName = (app: string, s: SystemdConfig): string => s.unit ?? `${app}.service`;

/** Where the meta package puts it (Debian's and Fedora's place for packaged units). */
export const unitPath = (format: "deb" | "rpm", name: string): string => `${format === "deb" ? "lib" : "usr/lib"}/systemd/system/${name}`;

export function renderUnit(app: string, root: string, s: SystemdConfig): string {
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === "string" && /[\r\n]/.test(v)) throw new Error(`package.systemd.${k} must be one line`);
  }
  return [
    "[Unit]",
    `Description=${app} (slipway release in ${root}/current)`,
    "After=network.target",
    "",
    "[Service]",
    "Type=exec",
    ...(s.user ? [`User=${s.user}`] : []),
    `WorkingDirectory=${root}/current`,
    ...(s.environment_file ? [`EnvironmentFile=-${s.environment_file}`] : []),
    `Environment=PATH=${root}/current/virtualenv/bin:/usr/local/bin:/usr/bin:/bin`,
    `ExecStart=${s.exec_start}`,
    `Restart=${s.restart}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
