export interface SizedFile {
  rel: string;
  size: number;
}

/** The `count` largest files, largest first (ties by path). Pure. */
export function largest(files: readonly SizedFile[], count: number): SizedFile[] {
  return [...files].sort((a, b) => b.size - a.size || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0)).slice(0, count);
}

/** Above this many unpacked bytes a code layer usually carries something it should not (a venv, data, media). */
export const CODE_LAYER_WARN_BYTES = 50 * 1024 * 1024;
