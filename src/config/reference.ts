import * as z from "zod";
import { configSchema } from "./schema.js";

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  pattern?: string;
  required?: string[];
};

/** The JSON Schema of slipway.toml, for editors (docs/slipway.schema.json). */
export function configJsonSchema(): object {
  return {
    ...z.toJSONSchema(configSchema, { io: "input" }),
    $id: "https://slipway.dev/schema/slipway.schema.json",
    title: "slipway.toml",
  };
}

/** The key reference of docs/configuration.md, generated from the schema so it cannot drift. */
export function configReferenceMarkdown(): string {
  const schema = configJsonSchema() as JsonSchema;
  const out: string[] = [];
  const section = (title: string, node: JsonSchema, prefix: string) => {
    const rows: string[] = [];
    const nested: [string, JsonSchema, string][] = [];
    for (const [key, prop] of Object.entries(node.properties ?? {})) {
      const dotted = `${prefix}.${key}`;
      if (prop.type === "object" && prop.properties && key !== "ssh") {
        nested.push([`[${dotted}]`, prop, dotted]);
        continue;
      }
      const table = prop.anyOf?.find((o) => o.type === "object" && o.properties);
      if (table) {
        // A table, or an array of such tables ([[...]]): documented once, as the table.
        nested.push([`[${dotted}] or [[${dotted}]]`, { ...table, description: prop.description }, dotted]);
        continue;
      }
      const required = node.required?.includes(key) ? " **(required)**" : "";
      const meaning = prop.description ? escapeCell(prop.description) : describeObject(prop);
      rows.push(`| \`${key}\` | ${typeOf(prop)} | ${defaultOf(prop)} | ${meaning}${required} |`);
    }
    out.push(
      `### \`${title}\``,
      "",
      ...(node.description && title.includes("[[") ? [escapeCell(node.description), ""] : []),
      "| key | type | default | meaning |",
      "|---|---|---|---|",
      ...rows,
      "",
    );
    for (const [t, n, p] of nested) section(t, n, p);
  };
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (key === "targets") {
      const target = prop.additionalProperties as JsonSchema;
      section("[targets.NAME]", target, "targets.NAME");
    } else section(`[${key}]`, prop, key);
  }
  return out.join("\n");
}

function typeOf(p: JsonSchema): string {
  if (p.enum) return p.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  if (p.anyOf) return p.anyOf.map(typeOf).join(" or ");
  if (p.type === "array") return `array of ${typeOf(p.items ?? {})}`;
  if (p.type === "object" && p.additionalProperties) return "table";
  if (p.type === "object") return "inline table";
  if (p.type === "integer") return "integer";
  return String(p.type ?? "any");
}

function defaultOf(p: JsonSchema): string {
  if (p.default === undefined) return "—";
  const text = JSON.stringify(p.default);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}…` : text}\``;
}

function describeObject(p: JsonSchema): string {
  if (p.type === "object" && p.properties) {
    return Object.entries(p.properties)
      .map(([k, v]) => `\`${k}\`${v.default !== undefined ? ` (default \`${JSON.stringify(v.default)}\`)` : ""}: ${escapeCell(v.description ?? "")}`)
      .join(" · ");
  }
  return "";
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\n/g, " ");
}
