#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { ExitCode, SlipwayError, UsageError } from "./errors.js";
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
    .addOption(new Option("--sign <keyfile>", "sign the manifest with an ed25519 key").hideHelp())
    .action((o: { buildId?: string; out?: string; sign?: string }) =>
      execute("build", globals(), async ({ cwd, emit, flags }) => {
        if (o.sign) throw new UsageError("--sign is not available in this version yet", "build without --sign");
        const { build } = await import("./commands/build.js");
        const { buildSummary } = await import("./render/summaries.js");
        const r = await build({ cwd, configPath: flags.config, buildId: o.buildId, out: o.out, emit });
        return { result: r, human: buildSummary(r, cwd) };
      }),
    );

  cli
    .command("inspect")
    .description("show an artifact's manifest, layers and sizes")
    .argument("<artifact>", "the .tar built by `slipway build`")
    .option("--verify", "re-hash every layer and the whole file; exit 3 on any mismatch")
    .action((artifact: string, o: { verify?: boolean }) =>
      execute("inspect", globals(), async ({ cwd, emit }) => {
        const { inspect } = await import("./commands/inspect.js");
        const { inspectSummary } = await import("./render/summaries.js");
        const r = await inspect({ cwd, artifact, verify: o.verify, emit });
        return { result: r, human: inspectSummary(r) };
      }),
    );

  for (const [verb, what] of [
    ["deploy", "deploy an artifact to a target"],
    ["rollback", "switch a target back to its previous release"],
    ["releases", "list releases per host"],
    ["prune", "remove old releases"],
    ["unlock", "clear a lock left by a dead deploy"],
    ["keygen", "make an ed25519 key pair for signing"],
  ] as const) {
    cli
      .command(verb)
      .description(`${what} (not in this version yet)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() =>
        execute(verb, globals(), async () => {
          throw new UsageError(`\`slipway ${verb}\` is not available in this version yet`, "see the README for what this version does");
        }),
      );
  }
  return cli;
}

async function main(argv: string[]): Promise<void> {
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

await main(process.argv);
