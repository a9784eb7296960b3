/** An HTTP-facing failure: a status code, what went wrong, and what to do about it. */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "ServeError";
  }

  toJSON(): { error: string; hint?: string } {
    return this.hint ? { error: this.message, hint: this.hint } : { error: this.message };
  }
}

export const notFound = (what: string, hint?: string) => new ServeError(404, `${what} not found`, hint);
export const forbidden = (what: string, hint?: string) => new ServeError(403, what, hint);
export const badRequest = (what: string, hint?: string) => new ServeError(400, what, hint);
export const conflict = (what: string, hint?: string) => new ServeError(409, what, hint);
