import path from "node:path";

/**
 * How pip gets the requirements, decided from the configured inputs alone (pure):
 * requirements files go to pip as -r; a lock file is first exported to a requirements file
 * by its own tool; a bare pyproject.toml contributes its [project] dependencies.
 */
export type InstallSource =
  | { kind: "requirements"; file: string }
  | { kind: "export"; tool: "uv" | "poetry"; argv: string[] }
  | { kind: "pyproject-dependencies"; file: string }
  | { kind: "unsupported"; file: string; hint: string };

export function planInstall(requirements: readonly string[]): InstallSource[] {
  const names = requirements.map((r) => path.basename(r));
  const hasLock = (n: string) => names.includes(n);
  const sources: InstallSource[] = [];
  for (const req of requirements) {
    const base = path.basename(req);
    if (base === "uv.lock") {
      sources.push({
        kind: "export",
        tool: "uv",
        argv: ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--format", "requirements-txt", "--project", path.dirname(req)],
      });
    } else if (base === "poetry.lock") {
      sources.push({
        kind: "export",
        tool: "poetry",
        argv: ["poetry", "export", "--format", "requirements.txt", "--without-hashes", "--directory", path.dirname(req)],
      });
    } else if (base === "pylock.toml") {
      sources.push({
        kind: "unsupported",
        file: req,
        hint: "pip cannot install from pylock.toml yet: export a requirements file (e.g. `uv export --format requirements-txt`) and list it in build.requirements",
      });
    } else if (base === "pyproject.toml") {
      if (!hasLock("uv.lock") && !hasLock("poetry.lock")) sources.push({ kind: "pyproject-dependencies", file: req });
    } else {
      sources.push({ kind: "requirements", file: req });
    }
  }
  return sources;
}
