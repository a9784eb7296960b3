/** How one host ended a deploy: the result types live here so that deploy/ never imports commands/. */
export interface HostOutcome {
  host: string;
  previous?: string;
  /** failed: its restart or health check failed (it was switched back); rolled-back: switched back because another host failed. */
  result: "ok" | "failed" | "rolled-back" | "not-switched";
  bytes_sent: number;
  durations_ms: Record<string, number>;
  error?: string;
}
