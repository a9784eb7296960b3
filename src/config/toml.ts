import { parseTOML, getStaticTOMLValue, ParseError, type AST } from "toml-eslint-parser";
import { ConfigError } from "../errors.js";

export interface ParsedToml {
  value: Record<string, unknown>;
  /** Dotted key path (`build.exclude[1]`) → 1-based line where it is written. */
  lines: Map<string, number>;
}

/** Parse TOML keeping where every key and array element was written, for file:line errors. */
export function parseTomlWithLines(text: string, file: string): ParsedToml {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (err) {
    if (err instanceof ParseError) {
      throw new ConfigError([{ file, line: err.lineNumber, path: "", message: `not valid TOML: ${err.message}` }]);
    }
    throw err;
  }
  const lines = new Map<string, number>();
  for (const top of ast.body) {
    for (const node of top.body) {
      if (node.type === "TOMLTable") {
        const prefix = node.resolvedKey;
        // [targets.s.restart] also brings targets and targets.s into being, on this line.
        for (let n = 1; n <= prefix.length; n++) record(lines, prefix.slice(0, n), node.loc.start.line);
        for (const kv of node.body) visitKeyValue(lines, prefix, kv);
      } else {
        visitKeyValue(lines, [], node);
      }
    }
  }
  return { value: getStaticTOMLValue(ast) as Record<string, unknown>, lines };
}

export function dottedPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const name = String(part);
      const plain = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      out += out ? `.${plain}` : plain;
    }
  }
  return out;
}

function record(lines: Map<string, number>, path: readonly PropertyKey[], line: number): void {
  const key = dottedPath(path);
  if (!lines.has(key)) lines.set(key, line);
}

function keyNames(key: AST.TOMLKey): string[] {
  return key.keys.map((k) => (k.type === "TOMLBare" ? k.name : k.value));
}

function visitKeyValue(lines: Map<string, number>, prefix: readonly (string | number)[], kv: AST.TOMLKeyValue): void {
  const path = [...prefix, ...keyNames(kv.key)];
  record(lines, path, kv.loc.start.line);
  visitValue(lines, path, kv.value);
}

function visitValue(lines: Map<string, number>, path: readonly (string | number)[], node: AST.TOMLContentNode): void {
  if (node.type === "TOMLArray") {
    node.elements.forEach((el, i) => {
      record(lines, [...path, i], el.loc.start.line);
      visitValue(lines, [...path, i], el);
    });
  } else if (node.type === "TOMLInlineTable") {
    for (const kv of node.body) visitKeyValue(lines, path, kv);
  }
}
