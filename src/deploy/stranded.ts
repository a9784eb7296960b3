import { SlipwayError } from "../errors.js";
import { shQuote } from "../transport/quote.js";
import { TransportError } from "../transport/ssh.js";

/** A host the end of a run could not reach: its lock stays there. */
export interface Stranded {
  host: string;
  why: string;
  /** The release it ran before this run (a way back for it). */
  before?: string;
}

/** From each host's finish step (in `hosts` order): those that failed because the host could not be reached. */
export function strandedHosts(
  hosts: readonly string[],
  finished: readonly PromiseSettledResult<unknown>[],
  before: (host: string) => string | undefined,
): Stranded[] {
  return hosts.flatMap((host, i) => {
    const f = finished[i];
    return f?.status === "rejected" && f.reason instanceof TransportError ? [{ host, why: f.reason.message.split("\n")[0]!, before: before(host) }] : [];
  });
}

/**
 * What the operator must know and run: the lock of a host that could not be reached stays (it
 * may be on either release, or mid-restart: nobody should deploy over it unknowingly), and
 * when it is back, these commands show where it is, release the lock and bring it in line.
 */
export function strandedNote(target: string, buildId: string, stranded: readonly Stranded[], action = "deploy"): string {
  const hosts = stranded.map((s) => s.host).join(",");
  const flags = `--target ${shQuote(target)} --hosts ${shQuote(hosts)}`;
  const back = stranded
    .filter((s) => s.before)
    .map((s) => `  slipway rollback --target ${shQuote(target)} --hosts ${shQuote(s.host)} --to ${shQuote(s.before!)}`);
  return [
    ...stranded.map((s) => `${s.host}: unreachable at the end of the ${action} (${s.why}); its ${action} lock stays there`),
    `when ${stranded.length === 1 ? "it is" : "they are"} back:`,
    `  slipway releases ${flags}    (which release it runs: it may be on ${buildId})`,
    `  slipway unlock ${flags}`,
    back.length ? "then deploy again, or go back to the release it had before:" : "then deploy again",
    ...back,
  ].join("\n");
}

/**
 * At the end of a run whose finish could not reach some hosts: the failure (if any) says so
 * too, and a run that otherwise succeeded fails — its record and lock release are missing.
 */
export function reportStranded(target: string, buildId: string, stranded: readonly Stranded[], failure: unknown, action = "deploy"): void {
  if (stranded.length === 0) return;
  const note = strandedNote(target, buildId, stranded, action);
  if (failure instanceof Error) {
    failure.message += `\n${note}`;
    return;
  }
  if (failure !== undefined) return;
  throw new SlipwayError(
    `${action} of ${buildId} to ${target}: every host was switched, but not every one could be reached to record it and release its lock:\n${note}`,
    "run the commands above when the host is back",
  );
}
