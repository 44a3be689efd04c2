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
 * Whether a string has a character every match of the kind needs: an indexOf is far cheaper than a
 * regular expression, and most strings ("latency", "shared-l3") have none of them.
 */
function mayHold(kind: PrivateKind, text: string): boolean {
  switch (kind) {
    case "email":
      return text.includes("@");
    case "uuid":
      return text.includes("-");
    case "mac":
      return text.includes(":") || text.includes("-");
    case "ipv6":
      return text.includes(":");
    case "ipv4":
    case "hostname":
      return text.includes(".");
    case "home-path":
      return text.includes("/") || text.includes("\\");
    case "serial":
      return /\d/.test(text);
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

/** Each markup pattern, what it finds, and a character it needs ("" for none). */
const MARKUP: ReadonlyArray<readonly [RegExp, string, string]> = [
  [/<\s*(?:\/\s*)?[A-Za-z!?]/, "an HTML tag", "<"],
  [/javascript\s*:/i, "a javascript: URL", ":"],
  // C0 controls, DEL, C1 controls, line/paragraph separators, bidi overrides and isolates (Trojan Source).
  // eslint-disable-next-line no-control-regex
  [/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, "a control or bidi character", ""],
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
  words: readonly RegExp[] = [],
  where = "value",
): ResultProblem[] {
  return findings(text, pointer, words, where).map(([code, detail]) => new ResultProblem(code, file, pointer, detail));
}

type Finding = readonly ["EPRIVATE" | "EMARKUP", string];

/** What {@link scanString} reports, as plain pairs (an error object costs a stack trace). */
function findings(text: string, pointer: string, words: readonly RegExp[], where: string): Finding[] {
  const problems: Finding[] = [];
  if (LONE_SURROGATE.test(text)) {
    problems.push([
      "EMARKUP",
      `the ${where} holds a lone surrogate (a half of a UTF-16 pair): not Unicode text; remove it`,
    ]);
  }
  for (const [re, what, needs] of MARKUP) {
    if ((needs === "" || text.includes(needs)) && re.test(text)) {
      problems.push([
        "EMARKUP",
        `the ${where} holds ${what}; results hold plain text only: remove it (the site escapes text anyway)`,
      ]);
    }
  }
  const seen: string[] = [];
  let more = 0;
  for (const [kind, re] of PATTERNS) {
    if (exempt(kind, pointer) || !mayHold(kind, text)) continue;
    for (const m of text.matchAll(re)) {
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
  for (const re of words) {
    const m = re.exec(text);
    if (m !== null) {
      problems.push([
        "EPRIVATE",
        `the ${where} holds ${KIND_NAMES.word}, ${mask(m[0])}: results never hold private data; remove it`,
      ]);
    }
  }
  return problems;
}

/**
 * Problems in every string of a JSON value, keys included, with JSON pointers rooted at the document. The
 * walk keeps its own stack, so a value nested at any depth is walked (validation refuses deep files before
 * this, but the scan is also used alone).
 */
export function scanDocument(doc: unknown, file: string, options: ScanOptions = {}): ResultProblem[] {
  const words = (options.privateWords ?? [])
    .filter((w) => w.length >= 4)
    .map((w) => new RegExp(`(?<![A-Za-z0-9])${escapeRegExp(w)}(?![A-Za-z0-9])`, "i"));
  const problems: ResultProblem[] = [];
  // Most strings repeat ("latency", "shared-l3") and are clean wherever they are: a string clean under the
  // strictest rules (no field exemption) is clean at any pointer, so it is scanned once.
  const clean = new Set<string>();
  let unscanned = 0;
  const check = (text: string, path: () => readonly (string | number)[], where: string) => {
    if (clean.has(text)) return;
    if (problems.length >= MAX_PROBLEMS_PER_DOCUMENT) {
      unscanned++;
      return;
    }
    if (findings(text, "", words, where).length === 0) {
      clean.add(text);
      return;
    }
    problems.push(...scanString(text, file, pointerOf(path()), words, where));
  };
  // Each entry is a value and its parent entry's link, so a path is built only for a string with problems.
  interface Entry {
    value: unknown;
    key: string | number | null;
    parent: Entry | null;
  }
  const pathOf = (e: Entry | null): (string | number)[] => {
    const out: (string | number)[] = [];
    for (let at = e; at !== null && at.key !== null; at = at.parent) out.push(at.key);
    return out.reverse();
  };
  const stack: Entry[] = [{ value: doc, key: null, parent: null }];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const { value, key } = e;
    const entry = e;
    if (typeof key === "string") check(key, () => pathOf(entry), "key");
    if (typeof value === "string") {
      check(value, () => pathOf(entry), "value");
    } else if (Array.isArray(value)) {
      // Only strings and containers can hold text: arrays of numbers (samples) are skipped cheaply.
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === "string" || (typeof item === "object" && item !== null)) {
          stack.push({ value: item, key: i, parent: entry });
        }
      }
    } else if (typeof value === "object" && value !== null) {
      const members = Object.entries(value);
      for (let i = members.length - 1; i >= 0; i--) {
        const [name, item] = members[i] as [string, unknown];
        stack.push({ value: item, key: name, parent: entry });
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
  return problems;
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
