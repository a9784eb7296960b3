import type * as z from "zod";
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
  for (const issue of issues.flatMap((i) => unwrapUnion(i))) {
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
          hint: guess ? `did you mean \`${guess}\`?` : `remove it; keys allowed here: ${known.join(", ") || "none"}`,
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

/**
 * A union (say "a table, or an array of tables") reports one issue per branch. Report the
 * branch the value was meant for: the one that did not fail on the value's type itself.
 */
function unwrapUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  // A union with its own message (e.g. batch: "a count or a percentage") says it best itself.
  if (issue.code !== "invalid_union" || !issue.errors?.length || issue.message !== "Invalid input") return [issue];
  const branch = issue.errors.find((errs) => !errs.some((e) => e.code === "invalid_type" && e.path.length === 0));
  if (!branch) return [issue];
  return branch.map((e) => ({ ...e, path: [...issue.path, ...e.path] }) as z.core.$ZodIssue).flatMap(unwrapUnion);
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

/** Keys allowed at a path of an object schema, seen through defaults, optionals, records, arrays and unions. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  type Def = { type?: string; innerType?: unknown; shape?: Record<string, unknown>; valueType?: unknown; element?: unknown; options?: unknown[] };
  const defOf = (node: unknown): Def | undefined => (node as { _zod?: { def?: Def } })._zod?.def;
  const unwrap = (node: unknown): unknown => {
    for (;;) {
      const def = defOf(node);
      if (def && (def.type === "default" || def.type === "optional" || def.type === "prefault") && def.innerType) node = def.innerType;
      else return node;
    }
  };
  const step = (node: unknown, part: PropertyKey): unknown[] => {
    const def = defOf(unwrap(node));
    if (def?.type === "object" && def.shape) return [def.shape[String(part)]];
    if (def?.type === "record") return [def.valueType];
    if (def?.type === "array" && typeof part === "number") return [def.element];
    if (def?.type === "union") return (def.options ?? []).flatMap((o) => step(o, part));
    return [];
  };
  let nodes: unknown[] = [schema];
  for (const part of path) nodes = nodes.flatMap((n) => step(n, part)).filter(Boolean);
  const keys = new Set<string>();
  const collect = (node: unknown): void => {
    const def = defOf(unwrap(node));
    if (def?.type === "object" && def.shape) for (const k of Object.keys(def.shape)) keys.add(k);
    else if (def?.type === "union") for (const o of def.options ?? []) collect(o);
  };
  nodes.forEach(collect);
  return [...keys];
}
