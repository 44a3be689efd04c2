/**
 * Markup that is safe by construction. Result files are contributed by strangers, so every value that
 * reaches the report goes through the `markup` template tag, which escapes whatever is not already Markup
 * (text and attribute values alike: the five characters that can end a text run or a quoted attribute).
 * Markup is only made by this tag, by `join` of Markup, or by `trusted` for text this program wrote.
 * SVG is built with the same tag, so a chart is as safe as the page that embeds it.
 */

export class Markup {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Interpolation = Markup | string | number | boolean | null | undefined | readonly Interpolation[];

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for an HTML or SVG text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** Numbers are coordinates or counts: at most two decimals keep the SVG small. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`markup: ${n} is not a finite number`);
  if (Number.isInteger(n)) return String(n);
  const fixed = n.toFixed(2);
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

function interpolate(value: Interpolation): string {
  if (value instanceof Markup) return value.text;
  if (value === null || value === undefined || value === false) return "";
  if (value === true) return "true";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return escapeHtml(value);
  return value.map(interpolate).join("");
}

/** Template tag: the literal parts are markup, every interpolated value is escaped unless it is Markup. */
export function markup(strings: TemplateStringsArray, ...values: readonly Interpolation[]): Markup {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += interpolate(value) + (strings[i + 1] ?? "");
  });
  return new Markup(out);
}

export function join(parts: readonly Markup[], separator = ""): Markup {
  return new Markup(parts.map((p) => p.text).join(separator));
}

/** Text this program wrote itself (a style sheet, a script): never pass anything read from a result. */
export function trusted(text: string): Markup {
  return new Markup(text);
}
