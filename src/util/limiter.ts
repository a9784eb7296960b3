/**
 * A gate letting at most `limit` calls of `fn` run at once; the others wait their turn, in the
 * order they came. Unlike mapLimit (pool.ts) the calls come from anywhere, at any time.
 */
export function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (running >= limit) await new Promise<void>((go) => waiting.push(go));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next)
        next(); // the slot passes straight on: `running` is unchanged
      else running--;
    }
  };
}
