// A bounded HTTP load generator that records every response (status, build id, latency).
import http from "node:http";

export interface Sample {
  start: number;
  end: number;
  status: number;
  build?: string;
  error?: string;
  phase: string;
}

export interface Load {
  /** Label requests started from now on (e.g. "deploy B"). */
  phase(label: string): void;
  stop(): Promise<Sample[]>;
}

/** Keep `concurrency` requests in flight against `url` until stop(), or the bounds. */
export function startLoad(url: string, opts: { concurrency?: number; maxMs?: number; maxRequests?: number } = {}): Load {
  const concurrency = opts.concurrency ?? 8;
  const deadline = Date.now() + (opts.maxMs ?? 180_000);
  const maxRequests = opts.maxRequests ?? 300_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples: Sample[] = [];
  let label = "steady";
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const s: Sample = { start: performance.now(), end: 0, status: 0, phase: label };
      const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
        s.status = res.statusCode ?? 0;
        s.build = res.headers["x-build-id"] as string | undefined;
        res.resume();
        res.on("end", () => {
          s.end = performance.now();
          samples.push(s);
          resolve();
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => {
        s.end = performance.now();
        s.error = err.message;
        samples.push(s);
        resolve();
      });
    });
  const worker = async () => {
    while (running && Date.now() < deadline && samples.length < maxRequests) await one();
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    phase: (l) => {
      label = l;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return samples;
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
