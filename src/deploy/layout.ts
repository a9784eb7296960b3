/** Paths on a host (SPEC §4). Pure; every name in them has been validated before it gets here. */
export interface Layout {
  root: string;
  releases: string;
  release(buildId: string): string;
  virtualenvs: string;
  venv(key: string): string;
  current: string;
  previous: string;
  shared(dir: string): string;
  state: string;
  lock: string;
  history: string;
  incoming: string;
}

export function layout(root: string): Layout {
  return {
    root,
    releases: `${root}/releases`,
    release: (id) => `${root}/releases/${id}`,
    virtualenvs: `${root}/virtualenvs`,
    venv: (key) => `${root}/virtualenvs/${key}`,
    current: `${root}/current`,
    previous: `${root}/previous`,
    shared: (dir) => `${root}/shared/${dir}`,
    state: `${root}/.slipway`,
    lock: `${root}/.slipway/lock`,
    history: `${root}/.slipway/history.jsonl`,
    incoming: `${root}/.slipway/incoming`,
  };
}

/**
 * A host-side step: a constant POSIX sh script, with every variable part passed as a
 * positional argument (never interpolated into the script), so quoting happens once, at
 * the transport's edge.
 */
export function sh(script: string, ...args: string[]): string[] {
  return ["sh", "-c", script, "slipway", ...args];
}
