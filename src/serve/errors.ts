/**
 * An HTTP-facing failure: a status code, what went wrong, and what to do about it; `detail`
 * adds fields a client acts on (documented per route in api/schemas.ts).
 */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ServeError";
  }

  toJSON(): { error: string; hint?: string } & Record<string, unknown> {
    return { error: this.message, ...(this.hint ? { hint: this.hint } : {}), ...this.detail };
  }
}

export const notFound = (what: string, hint?: string) => new ServeError(404, `${what} not found`, hint);
export const forbidden = (what: string, hint?: string) => new ServeError(403, what, hint);
export const badRequest = (what: string, hint?: string) => new ServeError(400, what, hint);
export const conflict = (what: string, hint?: string) => new ServeError(409, what, hint);
