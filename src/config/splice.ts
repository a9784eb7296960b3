export const BEGIN = "<!-- BEGIN GENERATED: npm run docs -->";
export const END = "<!-- END GENERATED -->";

/** Replace what is between the generated-section markers of a doc with `body`. */
export function spliceGenerated(doc: string, body: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the doc has no ${BEGIN} … ${END} section`);
  return `${doc.slice(0, start + BEGIN.length)}\n${body}\n${doc.slice(end)}`;
}
