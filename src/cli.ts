// The CLI: argv → command, events → renderer, errors → exit codes. src/launch.ts (the `slipway`
// executable) runs `main` from this file's bundle, dist/slipway.cjs; run directly (`node --import
// tsx src/cli.ts`, as the fault tests run the sources), this file runs it itself.
import { realpathSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { ExitCode, SlipwayError } from "./errors.js";
import type { Emit } from "./events.js";
import { humanRenderer } from "./render/human.js";
import { jsonRenderer } from "./render/json.js";
import type { Renderer } from "./render/renderer.js";
import { VERSION } from "./version.js";

interface GlobalFlags {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  color: boolean;
  yes?: boolean;
}

/** Run one command: make its renderer, call the library function, print, and set the exit code. */
async function execute(
  name: string,
  flags: GlobalFlags,
  body: (ctx: { emit: Emit; cwd: string; flags: GlobalFlags }) => Promise<{ result: object; human: (out: (l: string) => void) => void }>,
): Promise<void> {
  const renderer: Renderer = flags.json
    ? jsonRenderer(process.stdout)
    : await humanRenderer({
        json: false,
        tty: Boolean(process.stderr.isTTY),
        color: flags.color && Boolean(process.stderr.isTTY) && !process.env["NO_COLOR"],
        verbose: Boolean(flags.verbose),
        quiet: Boolean(flags.quiet),
        stdout: process.stdout,
        stderr: process.stderr,
      });
  try {
    const { result, human } = await body({ emit: (e) => renderer.event(e), cwd: process.cwd(), flags });
    renderer.result(name, result, human);
    process.exitCode = ExitCode.ok;
  } catch (err) {
    renderer.error(name, err as Error, Boolean(flags.verbose));
    process.exitCode = err instanceof SlipwayError ? err.exitCode : ExitCode.failed;
  }
}

export function program(): Command {
  const cli = new Command("slipway")
    .description("Build a Python web app into one artifact; deploy it fast, safely and repeatably.")
    .version(VERSION, "--version")
    .option("--config <path>", "config file (default ./slipway.toml, else [tool.slipway] in ./pyproject.toml)")
    .option("--json", "one JSON object per line on stdout: events, then a final result")
    .option("--verbose", "show tool output as it runs, and stack traces")
    .option("--quiet", "print only the result and errors")
    .option("--no-color", "no colours")
    .option("--yes", "answer yes to questions (e.g. overwrite, unlock)")
    .showHelpAfterError()
    .exitOverride();
  const globals = () => cli.opts<GlobalFlags>();

  cli
    .command("init")
    .description("write a commented slipway.toml for the app in the current directory")
    .action(() =>
      execute("init", globals(), async ({ cwd, flags }) => {
        const { init } = await import("./commands/init.js");
        const { initSummary } = await import("./render/summaries.js");
        const r = await init({ cwd, force: flags.yes });
        return { result: r, human: initSummary(r) };
      }),
    );

  cli
    .command("build")
    .description("build the artifact: venv (cached by key), build steps, minify, layers")
    .option("--build-id <id>", "build id (default: $BUILD_NUMBER, $GITHUB_RUN_NUMBER, $CI_PIPELINE_IID, else a UTC timestamp + short commit)")
    .option("--out <dir>", "output directory (default build.out)")
    .option("--sign <keyfile>", "sign the manifest with this ed25519 private key (default build.signing_key)")
    .option("--require-clean", "refuse (exit 2) a git work tree with changes not committed")
    .action((o: { buildId?: string; out?: string; sign?: string; requireClean?: boolean }) =>
      execute("build", globals(), async ({ cwd, emit, flags }) => {
        const { build } = await import("./commands/build.js");
        const { buildSummary } = await import("./render/summaries.js");
        const r = await build({ cwd, configPath: flags.config, buildId: o.buildId, out: o.out, sign: o.sign, requireClean: o.requireClean, emit });
        return { result: r, human: buildSummary(r, cwd) };
      }),
    );

  cli
    .command("inspect")
    .description("show an artifact's manifest, layers and sizes")
    .argument("<artifact>", "the .tar built by `slipway build`")
    .option("--verify", "re-hash every layer and the whole file; exit 3 on any mismatch")
    .action((artifact: string, o: { verify?: boolean }) =>
      execute("inspect", globals(), async ({ cwd, emit, flags }) => {
        const { inspect } = await import("./commands/inspect.js");
        const { inspectSummary } = await import("./render/summaries.js");
        const r = await inspect({ cwd, artifact, verify: o.verify, configPath: flags.config, emit });
        return { result: r, human: inspectSummary(r) };
      }),
    );

  cli
    .command("deploy")
    .description("deploy an artifact to a target: lock, preflight, send, unpack, migrations, switch, restart")
    .argument("<artifact>", "the .tar built by `slipway build`")
    .requiredOption("--target <name>", "target from the config")
    .option("--roles <list>", "only these roles of the target (comma-separated)")
    .option("--hosts <list>", "only these hosts of the target (comma-separated)")
    .option("--batch <n|p%>", "hosts switched at a time (default: each role's batch)")
    .option("--dry-run", "print the plan (hosts, batches, bytes each host would receive, steps) and change nothing")
    .action((artifact: string, o: { target: string; roles?: string; hosts?: string; batch?: string; dryRun?: boolean }) =>
      execute("deploy", globals(), async ({ cwd, emit, flags }) => {
        const { deploy } = await import("./commands/deploy.js");
        const { deploySummary } = await import("./render/deploy-summaries.js");
        const r = await deploy({
          cwd,
          configPath: flags.config,
          artifact,
          target: o.target,
          roles: o.roles,
          hosts: o.hosts,
          batch: o.batch,
          dryRun: o.dryRun,
          emit,
        });
        return { result: r, human: deploySummary(r) };
      }),
    );

  cli
    .command("rollback")
    .description("switch a target back to its previous release (or --to BUILD_ID), restart")
    .requiredOption("--target <name>", "target from the config")
    .option("--to <build_id>", "a release kept on every host")
    .option("--roles <list>", "only these roles of the target (comma-separated)")
    .option("--hosts <list>", "only these hosts of the target (comma-separated)")
    .action((o: { target: string; to?: string; roles?: string; hosts?: string }) =>
      execute("rollback", globals(), async ({ cwd, emit, flags }) => {
        const { rollback } = await import("./commands/rollback.js");
        const { rollbackSummary } = await import("./render/deploy-summaries.js");
        const r = await rollback({ cwd, configPath: flags.config, target: o.target, to: o.to, roles: o.roles, hosts: o.hosts, emit });
        return { result: r, human: rollbackSummary(r) };
      }),
    );

  cli
    .command("releases")
    .description("per host: releases, current, previous, venvs, disk used")
    .requiredOption("--target <name>", "target from the config")
    .option("--roles <list>", "only these roles of the target (comma-separated)")
    .option("--hosts <list>", "only these hosts of the target (comma-separated)")
    .action((o: { target: string; roles?: string; hosts?: string }) =>
      execute("releases", globals(), async ({ cwd, emit, flags }) => {
        const { releases } = await import("./commands/releases.js");
        const { releasesSummary } = await import("./render/deploy-summaries.js");
        const r = await releases({ cwd, configPath: flags.config, target: o.target, roles: o.roles, hosts: o.hosts, emit });
        return { result: r, human: releasesSummary(r) };
      }),
    );

  cli
    .command("prune")
    .description("remove old releases (never current or previous) and unused venvs")
    .requiredOption("--target <name>", "target from the config")
    .option("--keep <n>", "releases to keep (default deploy.keep_releases)")
    .option("--roles <list>", "only these roles of the target (comma-separated)")
    .option("--hosts <list>", "only these hosts of the target (comma-separated)")
    .action((o: { target: string; keep?: string; roles?: string; hosts?: string }) =>
      execute("prune", globals(), async ({ cwd, emit, flags }) => {
        const { prune } = await import("./commands/prune.js");
        const { pruneSummary } = await import("./render/deploy-summaries.js");
        const r = await prune({ cwd, configPath: flags.config, target: o.target, keep: o.keep, roles: o.roles, hosts: o.hosts, emit });
        return { result: r, human: pruneSummary(r) };
      }),
    );

  cli
    .command("unlock")
    .description("clear a lock left by a dead deploy (asks unless --yes)")
    .requiredOption("--target <name>", "target from the config")
    .option("--hosts <list>", "only these hosts of the target (comma-separated)")
    .option("--force", "remove whatever lock is there when you answer, not only the one shown")
    .action((o: { target: string; hosts?: string; force?: boolean }) =>
      execute("unlock", globals(), async ({ cwd, emit, flags }) => {
        const { unlock } = await import("./commands/unlock.js");
        const { unlockSummary } = await import("./render/deploy-summaries.js");
        const { confirm } = await import("./render/confirm.js");
        const r = await unlock({
          cwd,
          configPath: flags.config,
          target: o.target,
          hosts: o.hosts,
          emit,
          force: Boolean(o.force),
          confirm: (held) => confirm(`${held.join("\n")}\nRemove ${held.length === 1 ? "this lock" : "these locks"}?`, Boolean(flags.yes)),
        });
        return { result: r, human: unlockSummary(r) };
      }),
    );

  cli
    .command("image")
    .description("write the artifact as an OCI image (venv and release layers at their host paths) into an image layout")
    .argument("<artifact>", "the .tar built by `slipway build`")
    .option("--out <oci-dir:PATH>", "the OCI image layout to write into (default: oci-dir:<artifact dir>/<app>.oci)")
    .option("--base <ref>", "a base image with the venv's interpreter: oci-dir:PATH[:TAG] or oci://HOST:PORT/REPO:TAG (docs/distribution.md)")
    .action((artifact: string, o: { out?: string; base?: string }) =>
      execute("image", globals(), async ({ cwd, emit, flags }) => {
        const { image } = await import("./oci/image.js");
        const r = await image({ cwd, configPath: flags.config, artifact, out: o.out, base: o.base, emit });
        return {
          result: r,
          human: (out) => {
            out(`${r.layout}:${r.ref}  ${r.manifest.digest}`);
            if (r.base) out(`  base ${r.base.ref} ${r.base.digest}  ${r.base.layers.length} layer(s)`);
            for (const l of r.layers) out(`  ${l.name.padEnd(4)} ${l.digest}  ${l.size} bytes${l.reused ? " (already in the layout)" : ""}`);
          },
        };
      }),
    );

  cli
    .command("package")
    .description("write the artifact as OS packages: <app>-venv-<key>, <app>-release-<build_id> and the <app> meta package (docs/packages.md)")
    .argument("<artifact>", "the .tar built by `slipway build`")
    .requiredOption("--format <deb|rpm>", "package format")
    .option("--out <dir>", "directory for the packages (default: beside the artifact)")
    .option("--apt-repo <dir>", "deb: also publish them into this local apt repository (reprepro; made if missing)")
    .option("--yum-repo <dir>", "rpm: also publish them into this local yum repository (createrepo_c)")
    .action((artifact: string, o: { format: string; out?: string; aptRepo?: string; yumRepo?: string }) =>
      execute("package", globals(), async ({ cwd, emit, flags }) => {
        const { packageArtifact } = await import("./package/package.js");
        // packageArtifact refuses a format it does not know (exit 2).
        const r = await packageArtifact({
          cwd,
          configPath: flags.config,
          artifact,
          format: o.format as "deb",
          out: o.out,
          aptRepo: o.aptRepo,
          yumRepo: o.yumRepo,
          emit,
        });
        return {
          result: r,
          human: (out) => {
            for (const p of r.packages) out(`${p.kind.padEnd(7)} ${p.name} ${p.version}  ${p.file}  ${p.bytes} bytes`);
            const repo = r.apt_repo ?? r.yum_repo;
            if (repo) out(`published into ${repo}: ${r.published?.length ?? 0} new`);
          },
        };
      }),
    );

  const serve = cli
    .command("serve")
    .description("run the deploy server: HTTP API, dashboard and chat commands, one SQLite history (docs/serve.md)")
    .option("--listen <host:port>", "address to listen on (default [server] listen, 127.0.0.1:8780)")
    .option("--data <dir>", "database and artifact store (default [server] data, ./.slipway-server)")
    .action(async (o: { listen?: string; data?: string }) => {
      const flags = globals();
      try {
        const { findServerConfig } = await import("./serve/main.js");
        const { startServer } = await import("./serve/server.js");
        const server = await findServerConfig({ cwd: process.cwd(), config: flags.config, ...o });
        const running = await startServer({ server });
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        process.stderr.write("slipway serve: stopping (waiting for running deploys)\n");
        await running.close();
        process.exitCode = ExitCode.ok;
      } catch (err) {
        const e = err as Error & { hint?: string };
        process.stderr.write(`error: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}\n`);
        process.exitCode = err instanceof SlipwayError ? err.exitCode : ExitCode.failed;
      }
    });
  const token = serve.command("token").description("API tokens of the server (stored as SHA-256; a token is printed once)");
  const dataOf = async (flags: GlobalFlags, data?: string) => {
    const { findServerConfig } = await import("./serve/main.js");
    return (await findServerConfig({ cwd: process.cwd(), config: flags.config, data })).dataDir;
  };
  token
    .command("create")
    .description("create a token and print it once")
    .requiredOption("--name <name>", "who or what holds it (shown in history), e.g. ci")
    .requiredOption("--role <role>", "viewer, deployer or admin")
    .option("--app <app>", "the app it is for (default: every app)")
    .option("--target <target>", "the target it is for (default: every target)")
    .option("--data <dir>", "the server's data dir")
    .action((o: { name: string; role: string; app?: string; target?: string; data?: string }) =>
      execute("token create", globals(), async ({ flags }) => {
        const { tokenCreate } = await import("./serve/admin.js");
        const r = tokenCreate(await dataOf(flags, o.data), o);
        return {
          result: r,
          human: (out) => {
            out(r.token);
            process.stderr.write(`token ${r.name} (${r.grants.map((g) => `${g.role} on ${g.app}/${g.target}`).join(", ")}): shown once, store it now\n`);
          },
        };
      }),
    );
  token
    .command("list")
    .description("list tokens (names and grants, never the tokens)")
    .option("--data <dir>", "the server's data dir")
    .action((o: { data?: string }) =>
      execute("token list", globals(), async ({ flags }) => {
        const { tokenList } = await import("./serve/admin.js");
        const tokens = tokenList(await dataOf(flags, o.data));
        return {
          result: { tokens },
          human: (out) => {
            for (const t of tokens)
              out(`${t.name}\t${t.grants.map((g) => `${g.role}:${g.app}/${g.target}`).join(",")}\t${t.revoked_at ? `revoked ${t.revoked_at}` : "active"}`);
          },
        };
      }),
    );
  token
    .command("revoke")
    .description("revoke every active token of that name (and end its dashboard sessions)")
    .requiredOption("--name <name>", "the token's name")
    .option("--data <dir>", "the server's data dir")
    .action((o: { name: string; data?: string }) =>
      execute("token revoke", globals(), async ({ flags }) => {
        const { tokenRevoke } = await import("./serve/admin.js");
        const r = tokenRevoke(await dataOf(flags, o.data), o.name);
        return { result: r, human: (out) => out(`revoked ${r.revoked} token(s) named ${o.name}`) };
      }),
    );

  cli
    .command("push")
    .description(
      "upload an artifact to a deploy server (--server; token in SLIPWAY_TOKEN), push its OCI image to a registry (--to oci://), or its layers to an S3 store (--to s3://)",
    )
    .argument("<artifact>", "the .tar built by `slipway build`")
    .option("--server <url>", "the server, e.g. https://deploy.internal:8780")
    .option(
      "--to <oci://HOST:PORT/REPO|s3://BUCKET/PREFIX>",
      "a registry repository (oci+http:// for plain http; the tag is the build id), or an S3 bucket and key prefix (docs/distribution.md)",
    )
    .option("--base <ref>", "with --to: the image on a base image with the venv's interpreter, as `slipway image --base`")
    .action((artifact: string, o: { server?: string; to?: string; base?: string }) =>
      execute("push", globals(), async ({ cwd, emit, flags }) => {
        if ((o.server === undefined) === (o.to === undefined)) {
          const { UsageError } = await import("./errors.js");
          throw new UsageError(
            "push: give exactly one of --server URL and --to oci://HOST:PORT/REPO or s3://BUCKET/PREFIX",
            "--server for a `slipway serve`, --to for an OCI registry or an S3 store",
          );
        }
        if (o.base !== undefined && o.to === undefined) {
          const { UsageError } = await import("./errors.js");
          throw new UsageError("push: --base goes with --to (an image for a registry)", "a deploy server stores the artifact itself: drop --base");
        }
        if (o.to?.startsWith("s3://")) {
          if (o.base !== undefined) {
            const { UsageError } = await import("./errors.js");
            throw new UsageError("push: --base goes with --to oci:// (an image for a registry)", "an S3 store gets the artifact's layers: drop --base");
          }
          const { pushS3 } = await import("./s3/push.js");
          const r = await pushS3({ cwd, artifact, to: o.to, emit });
          return {
            result: r,
            human: (out) =>
              out(
                `${r.url}  ${r.build_id}  (${r.blobs.filter((b) => !b.skipped).length} layer(s) sent, ${r.blobs.filter((b) => b.skipped).length} already there)`,
              ),
          };
        }
        if (o.to !== undefined) {
          const { pushImage } = await import("./oci/push.js");
          const r = await pushImage({ cwd, configPath: flags.config, artifact, to: o.to, base: o.base, emit });
          return {
            result: r,
            human: (out) =>
              out(
                `${r.ref}  ${r.digest}  (${r.blobs.filter((b) => !b.skipped).length} blob(s) sent, ${r.blobs.filter((b) => b.skipped).length} already there)`,
              ),
          };
        }
        const { push } = await import("./serve/push.js");
        const r = await push({ artifact: path.resolve(cwd, artifact), server: o.server!, token: process.env["SLIPWAY_TOKEN"], emit });
        return { result: r, human: (out) => out(`${r.app} ${r.build_id}: ${r.status} on ${new URL(r.url).origin}`) };
      }),
    );

  cli
    .command("keygen")
    .description("make an ed25519 key pair for signing artifacts: PREFIX.key (private, mode 0600) and PREFIX.pub")
    .requiredOption("--out <prefix>", "where to write the pair, e.g. ci-signing → ci-signing.key, ci-signing.pub")
    .action((o: { out: string }) =>
      execute("keygen", globals(), async ({ cwd, flags }) => {
        const { keygen } = await import("./commands/keygen.js");
        const { keygenSummary } = await import("./render/summaries.js");
        const r = await keygen({ cwd, out: o.out, overwrite: flags.yes });
        return { result: r, human: keygenSummary(r) };
      }),
    );
  return cli;
}

export async function main(argv: string[]): Promise<void> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse error is a usage error.
      process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    throw err;
  }
}

/** Whether this file is the process's entry (its own path, links resolved), not a module of the bundle. */
function isEntry(): boolean {
  try {
    return Boolean(process.argv[1]) && import.meta.url === pathToFileURL(realpathSync(process.argv[1]!)).href;
  } catch {
    return false;
  }
}

if (isEntry()) void main(process.argv);
