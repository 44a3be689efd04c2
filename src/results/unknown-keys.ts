/**
 * Every key outside the result schema's allow-list, found in one walk of the document along the schema.
 *
 * The schema validator stops at its first error (collecting all of a hostile document's errors would cost
 * seconds and gigabytes), so to name every unknown key at once, without validating again per key, this
 * walk follows the schema itself: each object value is matched with the subschemas that apply to it
 * (`properties`, `additionalProperties`, `items`, `$ref`, `allOf`, and `if`/`then`/`else`, whose `if` is
 * decided by ajv), and a key is unknown where a subschema with `additionalProperties: false` does not list
 * it, as ajv would report it. Under `anyOf`/`oneOf` it does not look (which branch applies is not known; the
 * result schema uses them for scalars only). Linear in the document: each value is visited once per
 * subschema that applies to it, and the schema is of fixed size.
 */
import { Ajv, type ValidateFunction } from "ajv";

type Schema = boolean | Readonly<Record<string, unknown>>;

/** A value and the subschema it is walked with; `parent`/`key` link to where it is, for its path. */
interface Step {
  value: unknown;
  schema: Schema;
  key: string | number | null;
  parent: Step | null;
}

export interface UnknownKey {
  /** Path of the object holding the key. */
  at: (string | number)[];
  key: string;
}

const ifValidators = new WeakMap<object, ValidateFunction>();
let ajv: Ajv | undefined;

/** Whether `value` satisfies an `if` subschema (self-contained in the result schema). */
function holds(ifSchema: Schema, value: unknown): boolean {
  if (typeof ifSchema === "boolean") return ifSchema;
  let validate = ifValidators.get(ifSchema);
  if (validate === undefined) {
    ajv ??= new Ajv({ allErrors: false, strict: false, allowUnionTypes: true });
    validate = ajv.compile(ifSchema);
    ifValidators.set(ifSchema, validate);
  }
  return validate(value);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/**
 * The unknown keys of `doc` under `schema` (a root with local `#/definitions/...` references), at most
 * `limit` of them; `more` counts those past the limit.
 */
export function unknownKeys(schema: object, doc: unknown, limit: number): { found: UnknownKey[]; more: number } {
  const root = schema as Readonly<Record<string, unknown>>;
  const definitions = (root["definitions"] ?? {}) as Readonly<Record<string, Schema>>;
  const found: UnknownKey[] = [];
  let more = 0;
  const pathOf = (s: Step): (string | number)[] => {
    const out: (string | number)[] = [];
    for (let at: Step | null = s; at !== null && at.key !== null; at = at.parent) out.push(at.key);
    return out.reverse();
  };
  const stack: Step[] = [{ value: doc, schema: root, key: null, parent: null }];
  for (let step = stack.pop(); step !== undefined; step = stack.pop()) {
    const { value, schema: s } = step;
    if (typeof s === "boolean") continue;
    // Subschemas applying to the same value: walked as steps at the same place.
    const same = (sub: unknown) => stack.push({ ...step, schema: sub as Schema });
    const ref = s["$ref"];
    if (typeof ref === "string" && ref.startsWith("#/definitions/")) same(definitions[ref.slice(14)] ?? true);
    const allOf = s["allOf"];
    if (Array.isArray(allOf)) allOf.forEach(same);
    if (s["if"] !== undefined) {
      const branch = holds(s["if"] as Schema, value) ? s["then"] : s["else"];
      if (branch !== undefined) same(branch);
    }
    if (Array.isArray(value)) {
      const items = s["items"];
      if (isObject(items) && !Array.isArray(items)) {
        for (let i = value.length - 1; i >= 0; i--) {
          if (isObject(value[i])) stack.push({ value: value[i], schema: items, key: i, parent: step });
        }
      }
      continue;
    }
    if (!isObject(value)) continue;
    const properties = (s["properties"] ?? {}) as Readonly<Record<string, Schema>>;
    // Keys matched by a pattern are not looked at (the result schema has none).
    const additional = s["patternProperties"] === undefined ? (s["additionalProperties"] as Schema | undefined) : true;
    const names = Object.keys(value);
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i] as string;
      const item = value[name];
      const sub = Object.hasOwn(properties, name) ? properties[name] : additional;
      if (sub === false && !Object.hasOwn(properties, name)) {
        if (found.length < limit) found.push({ at: pathOf(step), key: name });
        else more++;
      } else if (sub !== undefined && typeof sub !== "boolean" && isObject(item)) {
        stack.push({ value: item, schema: sub, key: name, parent: step });
      }
    }
  }
  return { found, more };
}
