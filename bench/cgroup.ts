// The deployer's CPU, all of it: a process moved into a cpuacct cgroup (v1) right after it is
// spawned takes everything it starts along — ssh clients and the ssh masters they fork into the
// background, which /usr/bin/time cannot see (they are never waited for).
import { rmdirSync, writeFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";

export class CpuCgroup {
  readonly dir: string;
  #ok: boolean | undefined;
  constructor(name: string) {
    this.dir = `/sys/fs/cgroup/cpuacct/${name}`;
  }

  /** Whether the cgroup could be made (root, cgroup v1 cpuacct mounted); figures are NaN otherwise. */
  async ready(): Promise<boolean> {
    if (this.#ok === undefined) {
      try {
        await mkdir(this.dir, { recursive: true });
        await readFile(`${this.dir}/cpuacct.usage`, "utf8");
        this.#ok = true;
        process.on("exit", () => {
          try {
            rmdirSync(this.dir);
          } catch {
            /* still has tasks, or gone */
          }
        });
      } catch {
        this.#ok = false;
      }
    }
    return this.#ok;
  }

  /** CPU ns used so far by the processes placed in the cgroup (and theirs). */
  async usageNs(): Promise<number> {
    return (await this.ready()) ? Number((await readFile(`${this.dir}/cpuacct.usage`, "utf8")).trim()) : NaN;
  }

  /** Move a just-spawned process in (before it starts any ssh: node takes ~50 ms to load). */
  add(pid: number): void {
    if (this.#ok)
      try {
        writeFileSync(`${this.dir}/cgroup.procs`, String(pid));
      } catch {
        /* exited already */
      }
  }
}
