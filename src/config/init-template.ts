import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_EXCLUDE } from "./schema.js";

export interface DetectedApp {
  name: string;
  requirements: string[];
  django: boolean;
  staticDirs: string[];
}

/** What `init` learns from the files in the app dir. Reads only; `names` is the dir listing. */
export function detectApp(dir: string, names: readonly string[]): DetectedApp {
  const has = (n: string) => names.includes(n);
  const requirements: string[] = [];
  // pip cannot install from pylock.toml yet; uv.lock and poetry.lock are exported by their tools.
  const lock = ["uv.lock", "poetry.lock"].find(has);
  if (has("requirements.txt")) requirements.push("requirements.txt");
  else if (has("pyproject.toml") && lock) requirements.push("pyproject.toml", lock);
  else {
    const reqs = names.filter((n) => /^requirements.*\.txt$/.test(n)).sort();
    const prod = reqs.find((n) => /prod/.test(n));
    if (prod || reqs[0]) requirements.push((prod ?? reqs[0])!);
    else if (has("pyproject.toml")) requirements.push("pyproject.toml");
  }
  const staticDirs = ["static", "assets", "public"].filter((d) => has(d));
  return { name: appName(dir), requirements, django: has("manage.py"), staticDirs };
}

function appName(dir: string): string {
  const pyproject = path.join(dir, "pyproject.toml");
  let name = path.basename(dir);
  if (existsSync(pyproject)) {
    const m = /^\s*name\s*=\s*"([^"]+)"/m.exec(readFileSync(pyproject, "utf8"));
    if (m?.[1]) name = m[1];
  }
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 64);
  return clean || "app";
}

const q = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => `[${xs.map(q).join(", ")}]`;

/** A commented slipway.toml for the detected app (SPEC §2). */
export function renderConfig(d: DetectedApp): string {
  const steps = d.django ? ["python manage.py collectstatic --noinput"] : [];
  const minify = d.staticDirs.flatMap((s) => [`${s}/**/*.js`, `${s}/**/*.css`]);
  const check = d.django ? "python manage.py showmigrations --plan" : "";
  const run = d.django ? "python manage.py migrate --noinput" : "";
  return `# slipway configuration — see docs/configuration.md for every key.

[app]
name   = ${q(d.name)}
# Absolute, and the same on this build machine and on every host: the virtualenv is
# built at <root>/virtualenvs/<key>, so its scripts work there unchanged.
root   = ${q(`/srv/${d.name}`)}
# The interpreter that builds the venv; the same version/ABI must exist on every host.
python = "/usr/bin/python3"

[build]
# Hashed into the venv key (with -r/-c includes and local packages they name) and installed.
requirements = ${list(d.requirements.length ? d.requirements : ["requirements.txt"])}${d.requirements.length ? "" : "   # none found: create it"}
pip_args     = []        # e.g. ["--no-index", "--find-links", "wheelhouse"]; your pip config is honoured too
include      = ["."]       # inside git: what git would commit (tracked, or untracked and not ignored)
include_ignored = []     # ignored paths the release needs anyway, e.g. ["assets/dist"]
allow        = []        # paths the secrets guard lets through (it refuses .env, *.pem, private keys…)
exclude      = ${list([...DEFAULT_EXCLUDE, "*.egg-info"])}
# Run in a staging copy of the tree, with the venv first on PATH.
steps        = ${list(steps)}
minify       = ${list(minify)}
${
  d.django
    ? `# Before collectstatic: it then fingerprints and collects the minified files, so what is
# served is minified and its hashed name matches its bytes.
minify_when  = "before-steps"`
    : `minify_when  = "after-steps"   # or "before-steps": minify the sources before the steps`
}
compression  = "zstd"    # or "gzip"
out          = "dist"

[deploy]
keep_releases = 5
shared        = []       # e.g. ["media", "logs"]: <root>/shared/X linked into each release

[deploy.migrations]
check  = ${q(check)}
run    = ${q(run)}
policy = "warn"          # "warn" | "block" | "run"

[deploy.hooks]
before_switch = []
after_switch  = []

# A deploy target: uncomment and adapt.
# [targets.production]
# hosts     = ["deploy@app-01", "deploy@app-02"]
# batch     = 1
# A target must restart the app after the switch, or the old release goes on serving:
# "supervisord", "systemd" (programs = units; sudo = true for a deploy user that is not
# root), "command" (command = "…"), or "none" when nothing on these hosts needs it.
# [targets.production.restart]
# manager  = "supervisord"
# programs = [${q(d.name)}]
# conf     = "/etc/supervisor/supervisord.conf"
# The answer must name the new build: an X-Build-Id header, a JSON "build_id", or the
# release path (<root>/releases/<id>) in the body. expect_build = false accepts any 2xx.
# [targets.production.health]
# url     = "http://127.0.0.1:8000/health"
# timeout = "30s"
`;
}
