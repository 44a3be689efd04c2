/**
 * The canonical bytes of a result document: what a database stores and what its content address is the
 * hash of. Same document (same keys and values, in any key order) → same bytes → same hash and path.
 *
 * Rules: object keys sorted by code unit; numbers as JavaScript prints them (the shortest text that reads
 * back as the same double); UTF-8; a container goes on one line when that line (at its indentation) is at
 * most {@link LINE_WIDTH} characters or when it holds only numbers, booleans and null (samples, CPU lists);
 * otherwise one entry per line, indented by one space per level; a final newline. The result is stable,
 * readable in a diff, and compact for the big arrays.
 */
import { createHash } from "node:crypto";

export const LINE_WIDTH = 120;

function isScalar(v: unknown): boolean {
  return v === null || typeof v === "number" || typeof v === "boolean";
}

function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${oneLine((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError(`not a JSON number: ${value}`);
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`not a JSON value: ${typeof value}`);
  return text;
}

/** The one-line form if it is at most `budget` characters, else null (without building more than that). */
function oneLineWithin(value: unknown, budget: number): string | null {
  if (typeof value !== "object" || value === null) {
    const text = oneLine(value);
    return text.length <= budget ? text : null;
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v) => ["", v])
    : Object.keys(value)
        .sort()
        .map((k) => [`${JSON.stringify(k)}:`, (value as Record<string, unknown>)[k]]);
  let out = Array.isArray(value) ? "[" : "{";
  for (const [i, [key, item]] of entries.entries()) {
    const text = oneLineWithin(item, budget - out.length - key.length - 2);
    if (text === null) return null;
    out += (i > 0 ? "," : "") + key + text;
  }
  out += Array.isArray(value) ? "]" : "}";
  return out.length <= budget ? out : null;
}

function write(value: unknown, indent: number, prefixLength: number): string {
  if (typeof value !== "object" || value === null) return oneLine(value);
  if (Array.isArray(value) && value.every(isScalar)) return oneLine(value);
  const flat = oneLineWithin(value, LINE_WIDTH - indent - prefixLength);
  if (flat !== null) return flat;
  const pad = " ".repeat(indent + 1);
  if (Array.isArray(value)) {
    return `[\n${value.map((v) => pad + write(v, indent + 1, 0)).join(",\n")}\n${" ".repeat(indent)}]`;
  }
  const lines = Object.keys(value)
    .sort()
    .map((k) => {
      const key = `${JSON.stringify(k)}: `;
      return pad + key + write((value as Record<string, unknown>)[k], indent + 1, key.length);
    });
  return `{\n${lines.join(",\n")}\n${" ".repeat(indent)}}`;
}

/** The canonical text of a JSON value (see the module comment). */
export function canonicalJson(value: unknown): string {
  return write(value, 0, 0) + "\n";
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The canonical bytes of a document and their SHA-256. */
export function canonicalize(doc: unknown): { text: string; sha256: string } {
  const text = canonicalJson(doc);
  return { text, sha256: sha256(text) };
}
