/**
 * The privacy and markup scan: every string of a result document, keys included, is matched against
 * fixed patterns of private data (hostnames, IPv4/IPv6 and MAC addresses, e-mail addresses, home paths,
 * serial-like strings, UUIDs) and of markup (HTML tags, `javascript:` URLs, control and bidi characters).
 *
 * The schema's allow-list keeps private fields out; this scan keeps private *values* out of the fields
 * that hold text. It runs on any JSON value, before and independently of the schema, so a malformed file
 * still gets all its privacy problems reported. Found values are shown masked, never in full.
 *
 * Exemptions are by field and documented: our own hex ids and hashes are long alphanumerics by design, and
 * version strings (kernel release, runtime, methods) are dotted numbers that look like IPv4 addresses.
 */
import { hostname, userInfo } from "node:os";
import { pointerOf, ResultProblem } from "./problems.js";

export type PrivateKind = "hostname" | "ipv4" | "ipv6" | "mac" | "email" | "home-path" | "serial" | "uuid" | "word";

const KIND_NAMES: Readonly<Record<PrivateKind, string>> = {
  hostname: "a hostname (FQDN)",
  ipv4: "an IPv4 address",
  ipv6: "an IPv6 address",
  mac: "a MAC address",
  email: "an e-mail address",
  "home-path": "a home directory path",
  serial: "a serial-number-like string",
  uuid: "a UUID",
  word: "this machine's hostname or user name",
};

/**
 * Top-level domains a hostname may end in: generic ones, common country codes, and the names LANs use.
 * A fixed list, not "any word after a dot", so that "c1.xlarge" (an EC2 CPU label) is not a hostname;
 * without the country codes that are also words or file name parts ("x.id", "x.in", "x.md", "x.sh").
 */
const TLDS = [
  ...["com", "net", "org", "edu", "gov", "mil", "io", "ai", "cloud", "xyz", "tv", "cc", "uk", "de", "fr", "nl"],
  ...["eu", "jp", "cn", "ru", "br", "au", "ca", "ch", "se", "fi", "dk", "es", "pl", "cz", "kr", "tw", "nz"],
  ...["za", "ie", "il", "hu", "ro", "pt", "gr", "sk", "si", "lt", "lv", "ee", "lu", "sg", "hk", "th", "vn"],
  ...["ph", "mx", "ar", "cl", "local", "localdomain", "lan", "internal", "intranet", "corp", "private"],
  ...["domain", "example", "invalid", "localhost"],
];

const PATTERNS: ReadonlyArray<readonly [PrivateKind, RegExp]> = [
  ["email", /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g],
  [
    "uuid",
    /(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])/g,
  ],
  ["mac", /(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![0-9A-Fa-f:-])/g],
  [
    "ipv6",
    /(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?![\w:])/g,
  ],
  ["ipv4", /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d]|\.\d)/g],
  [
    "home-path",
    /(?:^|[^\w.~-])(?:\/home\/[^/\s"']+|\/Users\/[^/\s"']+|\/root(?![\w.-])|[A-Za-z]:\\Users\\[^\\\s"']+)/g,
  ],
  [
    "hostname",
    new RegExp(
      `(?<![\\w.@-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+(?:${TLDS.join("|")})(?![\\w-]|\\.[A-Za-z0-9])`,
      "gi",
    ),
  ],
  // Ten or more letters and digits, at least three of them digits (a serial, a machine-id, a service tag;
  // not "Uint8Array"), or twelve or more digits.
  [
    "serial",
    /(?<![A-Za-z0-9])(?:(?=(?:[A-Za-z]*\d){3})(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{10,}|\d{12,})(?![A-Za-z0-9])/g,
  ],
];

/**
 * What a string holds that some pattern needs, as bits, found in one pass over its characters: far cheaper
 * than a regular expression, and most strings ("latency", "shared-l3", a hostile file's million distinct
 * short strings) hold nothing any pattern needs, so no expression runs on them at all.
 */
const HAS = {
  /** A C0/C1 control, DEL, a line/paragraph separator, a bidi override or isolate, or a surrogate. */
  control: 1,
  lt: 2,
  colon: 4,
  at: 8,
  slash: 16,
  dash: 32,
  dot: 64,
  /** Three or more dots (an IPv4 address has three). */
  dots3: 128,
  /** A maximal run of ASCII letters and digits that the serial pattern matches whole (see PATTERNS). */
  serial: 256,
} as const;

function profile(text: string): number {
  let bits = 0;
  let dots = 0;
  let run = 0;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 0x20;
    if (c >= 0x30 && c <= 0x39) {
      run++;
      digits++;
      continue;
    }
    if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) {
      run++;
      continue;
    }
    // The end of a run of letters and digits: a serial is a run of ten or more with three digits and a
    // letter, or of twelve or more digits.
    if (run >= 10 && digits >= 3 && (digits < run || run >= 12)) bits |= HAS.serial;
    run = 0;
    digits = 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) bits |= HAS.control;
    else if (c === 0x2e) {
      bits |= HAS.dot;
      if (++dots >= 3) bits |= HAS.dots3;
    } else if (c === 0x2d) bits |= HAS.dash;
    else if (c === 0x3a) bits |= HAS.colon;
    else if (c === 0x2f || c === 0x5c) bits |= HAS.slash;
    else if (c === 0x3c) bits |= HAS.lt;
    else if (c === 0x40) bits |= HAS.at;
    else if (c >= 0x2028 && (c <= 0x202e || (c >= 0x2066 && c <= 0x2069) || (c >= 0xd800 && c <= 0xdfff))) {
      bits |= HAS.control;
    }
  }
  return bits;
}

/** Whether a string of this profile and length may hold a match of the kind (never false when it does). */
function mayHold(kind: PrivateKind, bits: number, length: number): boolean {
  switch (kind) {
    case "email":
      return (bits & HAS.at) !== 0;
    case "uuid":
      return (bits & HAS.dash) !== 0 && length >= 36;
    case "mac":
      return (bits & (HAS.colon | HAS.dash)) !== 0 && length >= 17;
    case "ipv6":
      return (bits & HAS.colon) !== 0;
    case "ipv4":
      return (bits & HAS.dots3) !== 0;
    case "hostname":
      return (bits & HAS.dot) !== 0;
    case "home-path":
      return (bits & HAS.slash) !== 0;
    case "serial":
      return (bits & HAS.serial) !== 0;
    case "word":
      return true;
  }
}

/** Values that identify nobody: loopback and unspecified addresses. */
function harmless(kind: PrivateKind, value: string): boolean {
  if (kind === "ipv4") return value.startsWith("127.") || value === "0.0.0.0";
  if (kind === "ipv6") return value === "::" || value === "::1" || value.split(":").filter((g) => g !== "").length < 2;
  if (kind === "hostname") return /^localhost\./i.test(value) || /^(?:\d+\.)+[a-z]+$/i.test(value);
  return false;
}

/** Our own hex ids and hashes, and the original suite's random temporary names: alphanumerics by design. */
const ID_FIELDS = [
  /^\/machine\/id$/,
  /^\/machine\/hardwareKey$/,
  /^\/suite\/commit$/,
  /^\/legacy\/(contentSha256|archive|machineFrom)$/,
];

/** Version strings: dotted numbers (which look like IPv4), build suffixes and git hashes (which look like serials). */
const VERSION_FIELDS = [
  /^\/machine\/environment\/kernel\/release$/,
  /^\/machine\/environment\/runtime\/(node|v8|uv)$/,
  /^\/machine\/environment\/os\/versionId$/,
  /^\/suite\/(version|engine)$/,
  /^\/benchmarks\/[^/]+\/method$/,
  /^\/legacy\/conversion$/,
];

/** CPU flags are a fixed vocabulary of the kernel's (e.g. "avx512vpopcntdq"). */
const FLAG_FIELDS = [/^\/machine\/environment\/cpu\/flags\/\d+$/];

function exempt(kind: PrivateKind, pointer: string): boolean {
  const any = (list: RegExp[]) => list.some((re) => re.test(pointer));
  if (kind === "serial") return any(ID_FIELDS) || any(VERSION_FIELDS) || any(FLAG_FIELDS);
  if (kind === "ipv4") return any(VERSION_FIELDS);
  return false;
}

/** Shows enough of a private value to find it, and not enough to leak it. */
export function mask(value: string): string {
  const shown = value.length <= 6 ? value.slice(0, 1) : value.slice(0, 3);
  return `"${shown}…" (${value.length} characters)`;
}

export interface ScanOptions {
  /**
   * Words that must not appear anywhere (this machine's hostname and user name), matched whole and
   * case-insensitively; words shorter than 4 characters are ignored (they would match ordinary text).
   */
  privateWords?: readonly string[];
}

/** Each markup pattern, what it finds, and what a string needs to hold for the pattern to match. */
const MARKUP: ReadonlyArray<readonly [RegExp, string, number]> = [
  [/<\s*(?:\/\s*)?[A-Za-z!?]/, "an HTML tag", HAS.lt],
  [/javascript\s*:/i, "a javascript: URL", HAS.colon],
  // C0 controls, DEL, C1 controls, line/paragraph separators, bidi overrides and isolates (Trojan Source).
  // eslint-disable-next-line no-control-regex
  [/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, "a control or bidi character", HAS.control],
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A document's problems are listed up to about this many; its further strings are counted, not scanned. */
const MAX_PROBLEMS_PER_DOCUMENT = 1000;

/** Half of a UTF-16 surrogate pair without its other half (String.prototype.isWellFormed, ES2024). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A string's problems are listed up to this many; the rest are counted (a string can hold thousands). */
const MAX_PROBLEMS_PER_STRING = 20;

/** Problems in one string at one pointer. Linear in the string's length. */
export function scanString(
  text: string,
  file: string,
  pointer: string,
  privateWords: readonly string[] = [],
  where = "value",
): ResultProblem[] {
  return problemsIn(text, file, pointer, wordsOf(privateWords), where);
}

function problemsIn(text: string, file: string, pointer: string, words: Words | null, where: string): ResultProblem[] {
  return findings(text, pointer, words, where).map(([code, detail]) => new ResultProblem(code, file, pointer, detail));
}

type Finding = readonly ["EPRIVATE" | "EMARKUP", string];

/** Private words, each matched whole and case-insensitively, and all of them in one expression. */
interface Words {
  any: RegExp;
  each: readonly RegExp[];
}

function wordsOf(list: readonly string[]): Words | null {
  const usable = list.filter((w) => w.length >= 4).map(escapeRegExp);
  if (usable.length === 0) return null;
  const whole = (w: string) => new RegExp(`(?<![A-Za-z0-9])${w}(?![A-Za-z0-9])`, "i");
  return { any: whole(`(?:${usable.join("|")})`), each: usable.map(whole) };
}

/** What {@link scanString} reports, as plain pairs (an error object costs a stack trace). */
function findings(text: string, pointer: string, words: Words | null, where: string, bits = profile(text)): Finding[] {
  const problems: Finding[] = [];
  if ((bits & HAS.control) !== 0 && LONE_SURROGATE.test(text)) {
    problems.push([
      "EMARKUP",
      `the ${where} holds a lone surrogate (a half of a UTF-16 pair): not Unicode text; remove it`,
    ]);
  }
  for (const [re, what, needs] of MARKUP) {
    if ((bits & needs) !== 0 && re.test(text)) {
      problems.push([
        "EMARKUP",
        `the ${where} holds ${what}; results hold plain text only: remove it (the site escapes text anyway)`,
      ]);
    }
  }
  const seen: string[] = [];
  let more = 0;
  for (const [kind, re] of PATTERNS) {
    if (!mayHold(kind, bits, text.length) || exempt(kind, pointer)) continue;
    // exec, not matchAll: matchAll copies the expression on every call, which costs more than the match.
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0] === "") re.lastIndex++;
      let value = m[0];
      if (kind === "home-path") value = value.replace(/^[^/A-Za-z]/, "");
      if (harmless(kind, value)) continue;
      // An address is not also a serial, nor an e-mail's domain also a hostname.
      if (seen.some((s) => s.includes(value) || value.includes(s))) continue;
      if (seen.length >= MAX_PROBLEMS_PER_STRING) {
        more++;
        continue;
      }
      seen.push(value);
      problems.push([
        "EPRIVATE",
        `the ${where} holds ${KIND_NAMES[kind]}, ${mask(value)}: results never hold private data; remove it`,
      ]);
    }
  }
  if (more > 0) {
    problems.push(["EPRIVATE", `the ${where} holds ${more} more private-looking values; remove them`]);
  }
  // One expression for all the words first: most strings hold none.
  if (words !== null && words.any.test(text)) {
    for (const re of words.each) {
      const m = re.exec(text);
      if (m !== null) {
        problems.push([
          "EPRIVATE",
          `the ${where} holds ${KIND_NAMES.word}, ${mask(m[0])}: results never hold private data; remove it`,
        ]);
      }
    }
  }
  return problems;
}

/** Clean strings remembered at most (a hostile file's strings are all distinct, and cheap to scan again). */
const MAX_REMEMBERED = 1 << 16;

/** What {@link walkDocument} found: the problems, and how many object keys the value has in all. */
export interface Walked {
  problems: ResultProblem[];
  keys: number;
}

/**
 * Problems in every string of a JSON value, keys included, with JSON pointers rooted at the document. The
 * walk keeps its own stack, so a value nested at any depth is walked (validation refuses deep files before
 * this, but the scan is also used alone).
 */
export function scanDocument(doc: unknown, file: string, options: ScanOptions = {}): ResultProblem[] {
  return walkDocument(doc, file, options).problems;
}

/** {@link scanDocument}, also counting the keys of every object (validation compares it with the text's). */
export function walkDocument(doc: unknown, file: string, options: ScanOptions = {}): Walked {
  const words = wordsOf(options.privateWords ?? []);
  const problems: ResultProblem[] = [];
  // Most strings repeat ("latency", "shared-l3") and are clean wherever they are: a string clean under the
  // strictest rules (no field exemption) is clean at any pointer, so it is scanned once.
  const clean = new Set<string>();
  let unscanned = 0;
  let keys = 0;
  // Each entry is a value and its parent entry's link, so a path is built only for a string with problems.
  interface Entry {
    value: unknown;
    key: string | number | null;
    parent: Entry | null;
  }
  const pathOf = (parent: Entry | null, key: string | number | null): string => {
    const out: (string | number)[] = key === null ? [] : [key];
    for (let at = parent; at !== null && at.key !== null; at = at.parent) out.push(at.key);
    return pointerOf(out.reverse());
  };
  /** The string at member `key` of `parent` (its value, or with `where` "key" its key). */
  const check = (text: string, parent: Entry | null, key: string | number | null, where: string) => {
    // Nothing any pattern needs (most strings): clean but for private words, with no look-up in the set of
    // clean strings (a hostile file's strings are all distinct).
    const bits = profile(text);
    if (bits === 0 && (words === null || !words.any.test(text))) return;
    if (clean.has(text)) return;
    if (problems.length >= MAX_PROBLEMS_PER_DOCUMENT) {
      unscanned++;
      return;
    }
    if (findings(text, "", words, where, bits).length === 0) {
      if (clean.size < MAX_REMEMBERED) clean.add(text);
      return;
    }
    problems.push(...problemsIn(text, file, pathOf(parent, key), words, where));
  };
  const stack: Entry[] = [{ value: doc, key: null, parent: null }];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const value = e.value;
    if (typeof value === "string") {
      check(value, null, null, "value");
    } else if (Array.isArray(value)) {
      // Only strings and containers can hold text: arrays of numbers (samples) are skipped cheaply.
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === "string") check(item, e, i, "value");
        else if (typeof item === "object" && item !== null) stack.push({ value: item, key: i, parent: e });
      }
    } else if (typeof value === "object" && value !== null) {
      const names = Object.keys(value);
      keys += names.length;
      for (let i = names.length - 1; i >= 0; i--) {
        const name = names[i] as string;
        const item: unknown = (value as Record<string, unknown>)[name];
        check(name, e, name, "key");
        if (typeof item === "string") check(item, e, name, "value");
        else if (typeof item === "object" && item !== null) stack.push({ value: item, key: name, parent: e });
      }
    }
  }
  if (unscanned > 0) {
    problems.push(
      new ResultProblem(
        "EPRIVATE",
        file,
        "",
        `${problems.length} problems found; ${unscanned} more strings were not scanned: fix these first`,
      ),
    );
  }
  return { problems, keys };
}

/** This machine's hostname and user name: words no result from here should hold. */
export function localPrivateWords(): string[] {
  const words = [hostname()];
  try {
    words.push(userInfo().username);
  } catch {
    // No passwd entry (some containers): no user name to look for.
  }
  return words.filter((w) => w.length >= 4);
}
