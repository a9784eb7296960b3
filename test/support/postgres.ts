// A real PostgreSQL (Debian's) in a temp dir, run as the postgres user, stopped by PID.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, writeFile, appendFile, readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./supervisor.js";
import { tmpDir } from "./tmp.js";

const run = promisify(execFile);

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface TestPostgres {
  /** Addresses it listens on, the first being 127.0.0.1. */
  addresses: string[];
  port: number;
  /** Directory of its unix socket (.s.PGSQL.<port>). */
  socketDir: string;
  database: string;
  user: string;
  password: string;
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  /** The same database over TCP at another of its addresses. */
  urlAt(address: string): string;
  /** Run SQL as the superuser in the database; psql's unaligned, tuples-only output. */
  sql(query: string): Promise<string>;
  stop(): void;
}

export interface PostgresOptions {
  /** More addresses to listen on (say, a fleet's gateway), besides 127.0.0.1. */
  listen?: string[];
  /** Client networks (CIDR) allowed in with the password, besides 127.0.0.1/32. */
  allow?: string[];
  database?: string;
}

async function asPostgres(args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run("runuser", ["-u", "postgres", "--", ...args], { cwd: "/", maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`postgres: ${what} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

/**
 * initdb a new cluster owned by the postgres user (the server refuses to run as root), start
 * it on a free port with its socket in the same temp dir, and create a login role owning a
 * database. Needs root (runuser) and Debian's postgresql package.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<TestPostgres> {
  if (userInfo().uid !== 0) throw new Error("startPostgres needs root: it runs the server as the postgres user");
  if (!existsSync(path.join(PG_BIN, "initdb"))) throw new Error(`no ${PG_BIN}/initdb: apt-get install postgresql`);
  const dir = await tmpDir("slipway-pg");
  await chmod(dir, 0o755); // the postgres user must reach it
  const { uid, gid } = await ids("postgres");
  const data = path.join(dir, "data");
  const socketDir = path.join(dir, "run");
  const pwfile = path.join(dir, "superuser.pw");
  await mkdir(socketDir);
  await writeFile(pwfile, "postgres-test\n", { mode: 0o600 });
  for (const p of [dir, socketDir, pwfile]) await chown(p, uid, gid);

  await asPostgres(
    [
      path.join(PG_BIN, "initdb"),
      "-D",
      data,
      "-U",
      "postgres",
      "--pwfile",
      pwfile,
      "-E",
      "UTF8",
      "--no-locale",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--no-sync",
    ],
    "initdb",
  );
  const addresses = ["127.0.0.1", ...(opts.listen ?? [])];
  for (const cidr of opts.allow ?? []) await appendFile(path.join(data, "pg_hba.conf"), `host all all ${cidr} scram-sha-256\n`);
  const port = await freePort();
  await appendFile(
    path.join(data, "postgresql.conf"),
    [
      `listen_addresses = '${addresses.join(",")}'`,
      `port = ${port}`,
      `unix_socket_directories = '${socketDir}'`,
      "fsync = off", // a test database: durability is not what is tested
      "max_connections = 100",
      "",
    ].join("\n"),
  );

  let pid = 0;
  const stop = () => {
    if (!pid) return;
    try {
      process.kill(pid, "SIGINT"); // "fast" shutdown: clients are disconnected
    } catch {
      /* gone */
    }
    pid = 0;
  };
  process.prependListener("exit", stop);
  await asPostgres([path.join(PG_BIN, "pg_ctl"), "-D", data, "-l", path.join(dir, "postgres.log"), "-w", "-t", "60", "start"], "pg_ctl start").catch(
    async (err: Error) => {
      throw new Error(`${err.message}\n${await readFile(path.join(dir, "postgres.log"), "utf8").catch(() => "")}`);
    },
  );
  pid = Number(readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);

  const psql = (query: string, db = "postgres") =>
    asPostgres(
      [path.join(PG_BIN, "psql"), "-h", socketDir, "-p", String(port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", query],
      `psql ${JSON.stringify(query)}`,
    );
  const database = opts.database ?? "shop";
  const user = "shop";
  const password = "shop-test-password";
  await psql(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
  await psql(`CREATE DATABASE ${database} OWNER ${user}`);
  const urlAt = (address: string) => `postgres://${user}:${password}@${address}:${port}/${database}`;
  return {
    addresses,
    port,
    socketDir,
    database,
    user,
    password,
    url: urlAt("127.0.0.1"),
    urlAt,
    sql: (query) => psql(query, database).then((s) => s.trim()),
    stop,
  };
}

async function ids(user: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run("id", ["-u", user]).catch(() => {
    throw new Error(`no ${user} user: apt-get install postgresql`);
  });
  const { stdout: g } = await run("id", ["-g", user]);
  return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
}
