/**
 * slipway as a library: the functions the CLI runs, for a deploy server or a script. Each takes
 * typed options (an `emit` callback receives typed events as it works), returns a typed result,
 * and throws a SlipwayError whose `exitCode` is the CLI's (docs/SPEC.md §1). Nothing here
 * prints or exits.
 */
export { build, type BuildOptions, type BuildResult } from "./commands/build.js";
export { deploy, type DeployOptions, type DeployResult, type HostOutcome } from "./commands/deploy.js";
export { rollback, type RollbackResult } from "./commands/rollback.js";
export { releases, type ReleasesResult } from "./commands/releases.js";
export { prune, type PruneResult } from "./commands/prune.js";
export { unlock, type UnlockResult } from "./commands/unlock.js";
export { inspect, type InspectOptions, type InspectResult } from "./commands/inspect.js";
export { init, type InitOptions, type InitResult } from "./commands/init.js";
export { keygen, type KeygenOptions } from "./commands/keygen.js";
export { packageArtifact, type BuiltPackage, type PackageOptions, type PackageResult } from "./package/package.js";
export type { TargetOptions } from "./commands/target-context.js";
export type { TransportFactory } from "./deploy/connect.js";
export { loadConfig } from "./config/load.js";
export type { Config, TargetConfig } from "./config/schema.js";
export type { Manifest } from "./artifact/manifest.js";
export { silent, type Emit, type HostStep, type Phase, type PlanSummary, type SlipwayEvent } from "./events.js";
export {
  ArtifactError,
  CommandFailedError,
  ConfigError,
  EnvironmentError,
  ExitCode,
  LockedError,
  SlipwayError,
  UsageError,
  type ConfigProblem,
} from "./errors.js";
export { SecretsError, type SecretFinding } from "./build/secrets.js";
export { VERSION } from "./version.js";
