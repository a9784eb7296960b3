/**
 * A venv's completion mark (`<root>/virtualenvs/<key>/.slipway-complete`) holds this line for
 * the interpreter the deploy that unpacked it had checked (env.python.configured, followed to
 * its file): device, inode, size, mtime and ctime. The venv key covers everything the preflight
 * compares (path, version, ABI, platform: venv-key.ts), so while the host's interpreter is that
 * same file, a later deploy of the same key would get the same answer: its preflight compares
 * this line instead of starting Python (about 35 ms of a host's CPU). Any change to the file —
 * an upgrade, a reinstall, a re-pointed symlink — or a mark without the line (an older slipway,
 * an unreadable interpreter) runs the interpreter as before.
 */
export const INTERPRETER_FINGERPRINT = `stat -L -c 'python %d %i %s %Y %Z' --`;
