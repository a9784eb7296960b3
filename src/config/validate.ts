import type { z } from "zod";
import type { ConfigProblem } from "../errors.js";
import { closest } from "./suggest.js";
import { dottedPath } from "./toml.js";

/**
 * Turn zod issues into problems a user can act on: file:line, the dotted key path, what is
 * wrong in plain words and, for typos, the key that was probably meant.
 */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  raw: unknown,
  file: string,
  lines: Map<string, number>,
  prefix: readonly PropertyKey[] = [],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(schema, issue.path);
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const guess = closest(key, known);
        problems.push({
          file,
          line: lineOf(lines, [...prefix, ...path]),
          path: dottedPath(path),
          message: "unknown key",
          hint: guess
            ? `did you mean \`${guess}\`?`
            : `remove it; keys allowed here: ${known.join(", ") || "none"}`,
        });
      }
      continue;
    }
    problems.push({
      file,
      line: lineOf(lines, [...prefix, ...issue.path]),
      path: dottedPath(issue.path),
      message: describeIssue(issue, valueAt(raw, issue.path)),
    });
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return `is required (${article(issue.expected)})`;
      return `expected ${article(issue.expected)}, got ${show(value)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${show(value)}`;
    case "too_small":
      if (issue.origin === "array") return `needs at least ${issue.minimum} item(s)`;
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${issue.minimum}, got ${show(value)}`;
    case "invalid_key":
      return `${issue.issues[0]?.message ?? "is not a valid name"} (the name is ${JSON.stringify(issue.path.at(-1) ?? "")})`;
    case "too_big":
      return `must be at most ${issue.maximum}, got ${show(value)}`;
    default:
      return value === undefined ? issue.message : `${issue.message}, got ${show(value)}`;
  }
}

function article(type: string): string {
  const names: Record<string, string> = {
    string: "a string",
    number: "a number",
    int: "an integer",
    array: "an array",
    object: "a table",
    record: "a table",
    boolean: "true or false",
  };
  return names[type] ?? type;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "a table";
  const text = JSON.stringify(value);
  return `${text.length > 60 ? `${text.slice(0, 57)}...` : text} (${typeof value})`;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let cur = raw;
  for (const part of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** The line of the key, else of its nearest written ancestor (e.g. a missing key's table). */
export function lineOf(lines: Map<string, number>, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(dottedPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

/** Keys allowed at a path of an object schema, seen through defaults, optionals and records. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let cur: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = (cur as { _zod?: { def?: { type?: string; innerType?: unknown } } })._zod?.def;
      if (def && (def.type === "default" || def.type === "optional" || def.type === "prefault") && def.innerType) {
        cur = def.innerType;
      } else return def;
    }
  };
  for (const part of path) {
    const def = unwrap() as { type?: string; shape?: Record<string, unknown>; valueType?: unknown } | undefined;
    if (def?.type === "object" && def.shape) cur = def.shape[String(part)];
    else if (def?.type === "record") cur = def.valueType;
    else return [];
  }
  const def = unwrap() as { type?: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}
