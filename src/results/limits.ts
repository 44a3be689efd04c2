/**
 * Limits before work: a result file is measured against fixed caps before anything else reads it, so
 * that a hostile file is refused in time linear in its size and in memory bounded by the caps, never by
 * a stack overflow or a quadratic slow-down further on.
 *
 * Two passes over the JSON text, each with an explicit stack (neither can overflow the call stack at any
 * depth). {@link measureLimits} is the fast one every file goes through: it allocates nothing per value
 * and stops at the first limit exceeded; it counts keys, so that the caller can tell a key given twice in
 * one object (JSON.parse keeps the last: the parsed value has fewer keys). {@link checkLimits} is the exact
 * one, run when the fast one found something: it names the limit and the JSON pointer of the value that
 * exceeded it, and the duplicate key. Both refuse a number that is not finite (1e999 parses to Infinity,
 * which JSON cannot write back). Text that is not JSON is left to JSON.parse to report.
 *
 * The caps are generic (any string, any array): the schema's own `maxLength`/`maxItems` per field are at
 * most these (a test checks it), so this pass never refuses what the schema accepts. Sizes of real results
 * they were chosen from are in the README (results database).
 */
import { pointerOf, ResultProblem } from "./problems.js";

export const RESULT_LIMITS = {
  /**
   * Bytes of one result file: the largest real one, a converted 48-CPU ipc-bench run, is 4.3 MB as stored;
   * a `fable bench --quick` result of 2 CPUs is 1.2 MB. The worst file of this size is validated in under
   * a second (README, bench:validate).
   */
  fileBytes: 16 * 1024 * 1024,
  /** Nesting of objects and arrays (the schema's deepest value is at depth 6). */
  depth: 32,
  /**
   * Objects and arrays of one file: the most in a real result is 60,143 (4.3 MB, 14,500 per MiB), so a file
   * of real runs at the size limit has about 250,000. Each costs the parse an allocation: a file of nothing
   * but `[]` would have 5.6 million.
   */
  containers: 1_000_000,
  /** Characters of one string value (the schema's longest is an error message, 1000). */
  stringLength: 4096,
  /** Characters of one key (the schema's keys are at most 64). */
  keyLength: 256,
  /** Items of one array (the schema's largest cap, on runs, is 200,000). */
  arrayItems: 200_000,
  /**
   * Keys of one object: the schema's largest map (benchmarks) allows 256 and its other objects have at
   * most 21 keys; the most in a real result is 26. Objects of thousands of keys cost the most per byte.
   */
  objectKeys: 256,
  /** Characters of one number as written (a double needs at most 24). */
  numberLength: 64,
} as const;

export type ResultLimit = keyof typeof RESULT_LIMITS;

interface Frame {
  array: boolean;
  /** Items or keys seen. */
  count: number;
  /** Keys seen (objects). */
  keys: Set<string> | null;
  /** In an object: the next string is a key. */
  wantKey: boolean;
}

const UNITS: Readonly<Record<ResultLimit, string>> = {
  fileBytes: "characters",
  depth: "levels",
  containers: "objects and arrays",
  stringLength: "characters",
  keyLength: "characters",
  arrayItems: "items",
  objectKeys: "keys",
  numberLength: "characters",
};

/** "<what> than the limit of N <unit> (<limit>)", at the pointer where it was exceeded. */
function over(file: string, path: readonly (string | number)[], limit: ResultLimit, what: string): ResultProblem {
  return new ResultProblem(
    "ELIMIT",
    file,
    pointerOf(path),
    `${what} than the limit of ${RESULT_LIMITS[limit]} ${UNITS[limit]} (${limit}); a result never needs more, so the file is refused before it is parsed`,
  );
}

/** What {@link measureLimits} found: the first problem (located), and the keys of all objects. */
export interface Measured {
  problem: ResultProblem | null;
  keys: number;
}

/**
 * The fast pass: the limits and non-finite numbers, as {@link checkLimits} (which it calls to name what it
 * found), but not duplicate keys: `keys` counts every key written, which is more than the parsed value has
 * when a key is given twice in one object (then {@link checkLimits} names it). Linear in the text's length.
 */
export function measureLimits(text: string, file: string): Measured {
  if (text.length > RESULT_LIMITS.fileBytes) return { problem: checkLimits(text, file), keys: 0 };
  const { depth: maxDepth, containers, arrayItems, objectKeys, stringLength, keyLength, numberLength } = RESULT_LIMITS;
  let opened = 0;
  // Per open object or array: whether it is an array, and its items or keys so far.
  const isArray = new Uint8Array(maxDepth + 1);
  const count = new Int32Array(maxDepth + 1);
  let depth = 0;
  let keys = 0;
  /** In an object, the next string is a key. */
  let wantKey = false;
  const n = text.length;
  const found = (): Measured => ({ problem: checkLimits(text, file), keys });
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a /* : */) {
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      wantKey = isArray[depth] === 0 && depth > 0;
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth > 0) depth--;
      wantKey = false;
      i++;
      continue;
    }
    const isKey = wantKey && c === 0x22;
    if (isKey) {
      wantKey = false;
      keys++;
      if (++count[depth]! > objectKeys) return found();
    } else if (isArray[depth] === 1 && ++count[depth]! > arrayItems) {
      // A value starts in an array.
      return found();
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth >= maxDepth || ++opened > containers) return found();
      depth++;
      isArray[depth] = c === 0x5b ? 1 : 0;
      count[depth] = 0;
      wantKey = c === 0x7b;
      i++;
      continue;
    }
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) return { problem: null, keys }; // Unterminated: not JSON.
      const cap = isKey ? keyLength : stringLength;
      if (end - i - 1 > cap && decodedLength(text, i + 1, end, true) > cap) return found();
      i = end + 1;
      continue;
    }
    // A bare token: a number, true, false or null.
    let j = i;
    let exponent = false;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x2c || d === 0x5d || d === 0x7d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      if (d === 0x65 || d === 0x45) exponent = true;
      if (j - i >= numberLength) return found();
    }
    if (exponent && beyondDouble(text.slice(i, j))) return found();
    i = j === i ? i + 1 : j;
  }
  return { problem: null, keys };
}

/**
 * The exact pass: the first limit the text exceeds, a duplicate key, or a number that is not finite, named
 * with its JSON pointer; null when there is none (or when the text is not JSON, which JSON.parse then
 * reports). Linear in the text's length.
 */
export function checkLimits(text: string, file: string): ResultProblem | null {
  if (text.length > RESULT_LIMITS.fileBytes) {
    return over(file, [], "fileBytes", `the document is longer`);
  }
  const stack: Frame[] = [];
  const path: (string | number)[] = [];
  let opened = 0;
  let top: Frame | undefined;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    // Whitespace, "," and ":" (the commonest characters of a pretty-printed result) first.
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a /* : */) {
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      if (top !== undefined && !top.array) top.wantKey = true;
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      path.pop();
      top = stack.at(-1);
      i++;
      continue;
    }
    const isKey = c === 0x22 && top !== undefined && !top.array && top.wantKey;
    if (top?.array === true) {
      // A value starts in an array: count it and name it.
      if (top.count >= RESULT_LIMITS.arrayItems) {
        return over(file, path.slice(0, -1), "arrayItems", "an array is longer");
      }
      path[path.length - 1] = top.count++;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= RESULT_LIMITS.depth) {
        return over(file, path, "depth", "objects and arrays are nested deeper");
      }
      if (++opened > RESULT_LIMITS.containers) {
        return over(file, path, "containers", "the document has more");
      }
      const array = c === 0x5b;
      top = { array, count: 0, keys: array ? null : new Set(), wantKey: !array };
      stack.push(top);
      path.push(array ? 0 : "");
      i++;
      continue;
    }
    if (c === 0x22 /* " */) {
      const j = stringEnd(text, i);
      if (j < 0) return null; // Unterminated: not JSON.
      const cap = isKey ? RESULT_LIMITS.keyLength : RESULT_LIMITS.stringLength;
      // Escapes make the raw text longer than the string: count exactly only when the raw text is over.
      if (j - i - 1 > cap && decodedLength(text, i + 1, j, true) > cap) {
        return isKey
          ? over(file, path.slice(0, -1), "keyLength", "a key is longer")
          : over(file, path, "stringLength", "a string is longer");
      }
      if (isKey && top !== undefined) {
        let key = text.slice(i + 1, j);
        if (key.includes("\\")) {
          try {
            key = JSON.parse(text.slice(i, j + 1)) as string;
          } catch {
            return null; // A bad escape: not JSON.
          }
        }
        const keys = top.keys ?? new Set<string>();
        if (keys.has(key)) {
          return new ResultProblem(
            "EJSON",
            file,
            pointerOf([...path.slice(0, -1), key]),
            `the key ${JSON.stringify(key)} appears twice in one object: a reader would keep only one of its values; remove the other`,
          );
        }
        if (keys.size >= RESULT_LIMITS.objectKeys) {
          return over(file, path.slice(0, -1), "objectKeys", "an object has more keys");
        }
        keys.add(key);
        path[path.length - 1] = key;
        top.wantKey = false;
      }
      i = j + 1;
      continue;
    }
    // A bare token: a number, true, false or null.
    let j = i;
    let exponent = false;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x2c || d === 0x5d || d === 0x7d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      if (d === 0x65 || d === 0x45) exponent = true;
      if (j - i >= RESULT_LIMITS.numberLength) {
        return over(file, path, "numberLength", "a number is written longer");
      }
    }
    if (exponent && beyondDouble(text.slice(i, j))) {
      return new ResultProblem(
        "ESCHEMA",
        file,
        pointerOf(path),
        `${text.slice(i, j)} is beyond the largest number JSON can carry (it would read as Infinity)`,
      );
    }
    i = j === i ? i + 1 : j;
  }
  return null;
}

/** The index of the quote that ends the JSON string whose opening quote is at `at`; -1 if none does. */
function stringEnd(text: string, at: number): number {
  let j = text.indexOf('"', at + 1);
  while (j >= 0) {
    // Escaped when preceded by an odd number of backslashes.
    let k = j - 1;
    while (text.charCodeAt(k) === 0x5c /* \ */) k--;
    if ((j - 1 - k) % 2 === 0) return j;
    j = text.indexOf('"', j + 1);
  }
  return -1;
}

/**
 * A number token beyond a double (it would parse to Infinity). Only a number with an exponent can be: without
 * one it would need 309 digits, over the length limit.
 */
function beyondDouble(token: string): boolean {
  const value = Number(token);
  return !Number.isNaN(value) && !Number.isFinite(value);
}

/** Characters of the JSON string text[from, to) once decoded (an escape is one). */
function decodedLength(text: string, from: number, to: number, escaped: boolean): number {
  if (!escaped && text.indexOf("\\", from) < 0) return to - from;
  let length = 0;
  for (let j = from; j < to; length++) j += text.charCodeAt(j) === 0x5c ? (text.charCodeAt(j + 1) === 0x75 ? 6 : 2) : 1;
  return length;
}
