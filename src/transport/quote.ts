/**
 * Quote one argument for a POSIX shell: wrapped in single quotes, each embedded quote closed,
 * escaped and reopened. Nothing inside single quotes is special to sh, so this is exact.
 */
export function shQuote(arg: string): string {
  if (arg.includes("\0")) throw new Error("an argument cannot contain a NUL byte");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An argv as one command line for a remote shell (what ssh sends): every argument quoted. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(" ");
}
