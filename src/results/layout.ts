/**
 * Where a result lives in a results database (DESIGN.md "Results"):
 *
 *     results/<schema-major>/<arch>/<cpu-slug>/<machine-id8>/<date>-<hash12>.json
 *
 * Every component comes from the document, so each is checked against a strict pattern before it names a
 * directory: a component can never be "..", hold a separator, or start with a dot. The hash is of the
 * document's canonical bytes, so the path is a function of the content: two different documents never
 * share a path unless their SHA-256 share 48 bits, which {@link addResults} checks byte for byte anyway.
 */
import { cpuSlug } from "../bench/environment.js";
import type { ResultFile } from "../bench/result.js";

/** Patterns of each path component. None admits a dot, a slash, a backslash or an empty name. */
export const COMPONENT_PATTERNS = {
  schema: /^[1-9][0-9]{0,3}$/,
  arch: /^[a-z0-9][a-z0-9_-]{0,31}$/,
  cpuSlug: /^[a-z0-9]+(?:-[a-z0-9]+)*$/,
  machineId8: /^[0-9a-f]{8}$/,
  date: /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/,
  hash12: /^[0-9a-f]{12}$/,
} as const;

export type Component = keyof typeof COMPONENT_PATTERNS;

/** The directory names of a result, and the field each comes from (a JSON pointer). */
export interface ResultPlace {
  schema: string;
  arch: string;
  cpuSlug: string;
  machineId8: string;
  date: string;
}

export const COMPONENT_FIELDS: Readonly<Record<keyof ResultPlace, string>> = {
  schema: "/schema",
  arch: "/machine/arch",
  cpuSlug: "/machine/environment/cpu/model",
  machineId8: "/machine/id",
  date: "/createdAt",
};

export function placeOf(doc: ResultFile): ResultPlace {
  return {
    schema: String(doc.schema),
    arch: doc.machine.arch,
    cpuSlug: cpuSlug(doc.machine.environment.cpu.model),
    machineId8: doc.machine.id.slice(0, 8),
    date: doc.createdAt.slice(0, 10),
  };
}

/** The components that do not match their pattern, with the value found. */
export function badComponents(place: ResultPlace): { component: keyof ResultPlace; value: string }[] {
  return (Object.keys(COMPONENT_FIELDS) as (keyof ResultPlace)[])
    .filter((c) => !COMPONENT_PATTERNS[c].test(place[c]))
    .map((c) => ({ component: c, value: place[c] }));
}

/** The path of a result relative to the database root, with "/" separators. Throws on a bad component. */
export function relativePathOf(place: ResultPlace, hash12: string): string {
  const bad = badComponents(place);
  if (bad.length > 0 || !COMPONENT_PATTERNS.hash12.test(hash12)) {
    const what = bad.map((b) => `${b.component} ${JSON.stringify(b.value)}`).join(", ") || `hash ${hash12}`;
    throw new RangeError(`cannot name a database path from ${what}`);
  }
  return ["results", place.schema, place.arch, place.cpuSlug, place.machineId8, `${place.date}-${hash12}.json`].join(
    "/",
  );
}

/** Parses a database-relative path back into its place and hash; null if it is not one. */
export function parseRelativePath(relative: string): { place: ResultPlace; hash12: string } | null {
  const parts = relative.split("/");
  if (parts.length !== 6 || parts[0] !== "results") return null;
  const [, schema = "", arch = "", slug = "", id8 = "", name = ""] = parts;
  const m = /^([0-9]{4}-[0-9]{2}-[0-9]{2})-([0-9a-f]{12})\.json$/.exec(name);
  if (m?.[1] === undefined || m[2] === undefined) return null;
  const place = { schema, arch, cpuSlug: slug, machineId8: id8, date: m[1] };
  return badComponents(place).length === 0 ? { place, hash12: m[2] } : null;
}
