// The module graph of src/ has no cycles (type-only imports included: a cycle of types is a
// layering mistake too), and nothing below commands/ imports a command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of files("src")) {
    const text = readFileSync(file, "utf8");
    const deps = [...text.matchAll(/^(?:import|export)[^;]*?from\s+"(\.{1,2}\/[^"]+)\.js";/gms)].map((m) => path.join(path.dirname(file), `${m[1]}.ts`));
    g.set(file, deps);
  }
  return g;
}

/** Every cycle, each as the path of files around it (found by depth-first search). */
function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === "open") found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of [...g.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

test("src/ has no import cycles", () => {
  const g = graph();
  assert.ok(g.size > 50, `read ${g.size} modules`);
  assert.deepEqual(
    cycles(g).map((c) => c.join(" → ")),
    [],
  );
});

test("nothing below the commands (outside commands/, render/, cli.ts, index.ts) imports one", () => {
  const above = /^src\/(commands\/|render\/|cli\.ts$|index\.ts$)/;
  const offenders = [...graph()].flatMap(([file, deps]) =>
    above.test(file) ? [] : deps.filter((d) => d.startsWith("src/commands/")).map((d) => `${file} → ${d}`),
  );
  assert.deepEqual(offenders, []);
});

test("the cycle finder finds a cycle", () => {
  assert.deepEqual(
    cycles(
      new Map([
        ["a", ["b"]],
        ["b", ["c"]],
        ["c", ["a"]],
        ["d", []],
      ]),
    ),
    [["a", "b", "c", "a"]],
  );
});
