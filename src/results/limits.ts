/**
 * Limits before work: a result file is measured against fixed caps before anything else reads it, so
 * that a hostile file is refused in time linear in its size and in memory bounded by the caps, never by
 * a stack overflow or a quadratic slow-down further on.
 *
 * {@link checkLimits} is one pass over the JSON text with an explicit stack (it cannot overflow the call
 * stack at any depth). It stops at the first limit exceeded and names the limit and the JSON pointer of
 * the value that exceeded it. It also refuses what JSON.parse would silently change: a key given twice in
 * one object (JSON.parse keeps the last), and a number that is not finite (1e999 parses to Infinity, which
 * JSON cannot write back). Text that is not JSON is left to JSON.parse to report.
 *
 * The caps are generic (any string, any array): the schema's own `maxLength`/`maxItems` per field are at
 * most these (a test checks it), so this pass never refuses what the schema accepts. Sizes of real results
 * they were chosen from are in the README (results database).
 */
import { pointerOf, ResultProblem } from "./problems.js";

export const RESULT_LIMITS = {
  /** Bytes of one result file (the largest real one, a converted 48-CPU ipc-bench run, is 3.4 MB). */
  fileBytes: 64 * 1024 * 1024,
  /** Nesting of objects and arrays (the schema's deepest value is at depth 6). */
  depth: 32,
  /** Characters of one string value (the schema's longest is an error message, 1000). */
  stringLength: 4096,
  /** Characters of one key (the schema's keys are at most 64). */
  keyLength: 256,
  /** Items of one array (the schema's largest cap, on runs, is 200,000). */
  arrayItems: 200_000,
  /** Keys of one object. */
  objectKeys: 4096,
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

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
/** Characters that end a bare token (number, true, false, null). */
const DELIMITERS = new Set([0x2c, 0x5d, 0x7d, 0x3a, 0x20, 0x09, 0x0a, 0x0d]);

const UNITS: Readonly<Record<ResultLimit, string>> = {
  fileBytes: "characters",
  depth: "levels",
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

/**
 * The first limit the text exceeds, a duplicate key, or a number that is not finite; null when there is
 * none (or when the text is not JSON, which JSON.parse then reports). Linear in the text's length.
 */
export function checkLimits(text: string, file: string): ResultProblem | null {
  if (text.length > RESULT_LIMITS.fileBytes) {
    return over(file, [], "fileBytes", `the document is longer`);
  }
  const stack: Frame[] = [];
  const path: (string | number)[] = [];
  const n = text.length;
  let i = 0;
  /** Called where a value starts: counts it in its array and sets its path segment. */
  const valueStarts = (): ResultProblem | null => {
    const top = stack.at(-1);
    if (top?.array === true) {
      if (top.count >= RESULT_LIMITS.arrayItems) {
        return over(file, path.slice(0, -1), "arrayItems", "an array is longer");
      }
      path[path.length - 1] = top.count++;
    }
    return null;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (WHITESPACE.has(c) || c === 0x2c /* , */ || c === 0x3a /* : */) {
      const top = stack.at(-1);
      if (c === 0x2c && top !== undefined && !top.array) top.wantKey = true;
      i++;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const problem = valueStarts();
      if (problem !== null) return problem;
      if (stack.length >= RESULT_LIMITS.depth) {
        return over(file, path, "depth", "objects and arrays are nested deeper");
      }
      const array = c === 0x5b;
      stack.push({ array, count: 0, keys: array ? null : new Set(), wantKey: !array });
      path.push(array ? 0 : "");
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      path.pop();
      i++;
      continue;
    }
    if (c === 0x22 /* " */) {
      // A string: find its end, counting characters as decoded (an escape is one).
      let j = i + 1;
      let length = 0;
      const top = stack.at(-1);
      const isKey = top !== undefined && !top.array && top.wantKey;
      const cap = isKey ? RESULT_LIMITS.keyLength : RESULT_LIMITS.stringLength;
      if (!isKey) {
        const problem = valueStarts();
        if (problem !== null) return problem;
      }
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        j += d === 0x5c /* \ */ ? (text.charCodeAt(j + 1) === 0x75 /* u */ ? 6 : 2) : 1;
        if (++length > cap) {
          return isKey
            ? over(file, path.slice(0, -1), "keyLength", "a key is longer")
            : over(file, path, "stringLength", "a string is longer");
        }
      }
      if (j >= n) return null; // Unterminated: not JSON.
      if (isKey && top !== undefined) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return null; // A bad escape: not JSON.
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
    const problem = valueStarts();
    if (problem !== null) return problem;
    let j = i;
    while (j < n && !DELIMITERS.has(text.charCodeAt(j))) {
      if (++j - i > RESULT_LIMITS.numberLength) {
        return over(file, path, "numberLength", "a number is written longer");
      }
    }
    const token = text.slice(i, j);
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const value = Number(token);
      if (!Number.isNaN(value) && !Number.isFinite(value)) {
        return new ResultProblem(
          "ESCHEMA",
          file,
          pointerOf(path),
          `${token} is beyond the largest number JSON can carry (it would read as Infinity)`,
        );
      }
    }
    i = j;
  }
  return null;
}
