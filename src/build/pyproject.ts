import { readFile } from "node:fs/promises";
import path from "node:path";
import { getStaticTOMLValue, parseTOML } from "toml-eslint-parser";
import { EnvironmentError } from "../errors.js";

/** What slipway needs to know of a pyproject.toml: how its dependencies are declared, and whether it is a package. */
export interface PyprojectInfo {
  file: string;
  name?: string;
  /** [project] dependencies as written; undefined when the table has none. */
  dependencies?: string[];
  /** "dependencies" is listed in [project] dynamic: only a build backend knows them. */
  dynamicDependencies: boolean;
  /** [tool.poetry.dependencies] without a [project] dependencies list (Poetry before 2). */
  poetryDependencies: boolean;
  /** A [build-system] table or a [project] name: pip can build and install it. */
  installable: boolean;
}

export async function readPyproject(file: string): Promise<PyprojectInfo> {
  const data = getStaticTOMLValue(parseTOML(await readFile(file, "utf8"))) as {
    project?: { name?: unknown; dependencies?: unknown; dynamic?: unknown };
    tool?: { poetry?: { dependencies?: unknown } };
    "build-system"?: unknown;
  };
  const project = data.project;
  const deps = project?.dependencies;
  const dynamic = Array.isArray(project?.dynamic) && project.dynamic.map(String).includes("dependencies");
  const poetry = data.tool?.poetry?.dependencies;
  return {
    file,
    name: typeof project?.name === "string" ? project.name : undefined,
    dependencies: Array.isArray(deps) ? deps.map(String) : undefined,
    dynamicDependencies: dynamic,
    poetryDependencies: !Array.isArray(deps) && typeof poetry === "object" && poetry !== null && Object.keys(poetry).some((k) => k !== "python"),
    installable: data["build-system"] !== undefined || typeof project?.name === "string",
  };
}

/**
 * The requirement lines of a bare pyproject.toml (no lock file beside it): its [project]
 * dependencies. Dependencies slipway cannot read without running a build backend are an
 * error that names what to do — never a silently empty venv.
 */
export function pyprojectRequirements(info: PyprojectInfo, rel: string): string[] {
  if (info.dynamicDependencies) {
    throw new EnvironmentError(
      `${rel}: [project] dependencies are dynamic, so slipway cannot know them without building the project`,
      "write them to a requirements file (e.g. `pip-compile pyproject.toml -o requirements.txt`) and list that in build.requirements, or declare them statically in [project] dependencies",
    );
  }
  if (info.poetryDependencies) {
    throw new EnvironmentError(
      `${rel}: dependencies are in [tool.poetry.dependencies], which pip does not read`,
      'add poetry.lock to build.requirements (requirements = ["pyproject.toml", "poetry.lock"]: slipway runs `poetry export`), or move them to [project] dependencies',
    );
  }
  return info.dependencies ?? [];
}

/** The pyproject.toml among build.requirements, read once (its dependencies, whether it is a package), if any. */
export async function pyprojectOf(appDir: string, requirements: readonly string[]): Promise<{ rel: string; info: PyprojectInfo } | undefined> {
  const rel = requirements.find((r) => path.basename(r) === "pyproject.toml");
  return rel ? { rel, info: await readPyproject(path.resolve(appDir, rel)) } : undefined;
}
