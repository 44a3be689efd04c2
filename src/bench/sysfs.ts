/**
 * Reading and parsing the small text files of sysfs and procfs.
 *
 * The parsers are strict: a value the kernel would never print raises a {@link SysfsFormatError}
 * saying what was wrong, and the caller (topology, environment) decides whether that is fatal and
 * names the file. Reading distinguishes "the file is not there" (null) from every other failure.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";

/** A value that does not have the format the kernel prints. `reason` says what is wrong with it. */
export class SysfsFormatError extends Error {
  override readonly name = "SysfsFormatError";
  constructor(
    readonly value: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(value)}: ${reason}`);
  }
}

/** Highest CPU number accepted in a list or mask; far above any kernel's NR_CPUS, low enough to refuse garbage. */
export const MAX_CPU = 65535;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * The file's text without its trailing newline, or null when it does not exist.
 * Any other failure (permission, a sysfs attribute that fails to read) throws the errno error.
 */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8").replace(/\n$/, "");
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** Like {@link readText}, but any failure at all reads as null: for optional facts that must never stop a run. */
export function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8").replace(/\n$/, "");
  } catch {
    return null;
  }
}

/** Whether anything exists at the path (a symlink counts only if its target exists). */
export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether the path is a directory (following symlinks, as sysfs' own links must be followed). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The numbers N of the entries of `dir` named `<prefix>N` (e.g. "cpu" → cpu0, cpu12), sorted;
 * null when the directory does not exist.
 */
export function numberedEntries(dir: string, prefix: string): number[] | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  const pattern = new RegExp(`^${prefix}(0|[1-9][0-9]*)$`);
  const numbers: number[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (m?.[1] !== undefined) numbers.push(Number(m[1]));
  }
  return numbers.sort((a, b) => a - b);
}

/** A decimal integer as sysfs prints it (optionally negative: some architectures print -1 for "unknown"). */
export function parseInteger(text: string): number {
  const t = text.trim();
  if (!/^-?(0|[1-9][0-9]*)$/.test(t)) throw new SysfsFormatError(text, "not a decimal integer");
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new SysfsFormatError(text, "integer out of range");
  return n;
}

/** A non-negative decimal integer. */
export function parseCount(text: string): number {
  const n = parseInteger(text);
  if (n < 0) throw new SysfsFormatError(text, "negative where a count or id is expected");
  return n;
}

function cpuNumber(whole: string, part: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(part)) throw new SysfsFormatError(whole, `"${part}" is not a CPU number`);
  const n = Number(part);
  if (n > MAX_CPU) throw new SysfsFormatError(whole, `CPU ${part} is above ${MAX_CPU}`);
  return n;
}

/**
 * A CPU list as the kernel prints it ("0-3,8,10-11"; "" is the empty list), sorted and without duplicates.
 */
export function parseCpuList(text: string): number[] {
  const t = text.trim();
  if (t === "") return [];
  const cpus = new Set<number>();
  for (const part of t.split(",")) {
    const dash = part.indexOf("-");
    if (dash < 0) {
      cpus.add(cpuNumber(text, part));
      continue;
    }
    const first = cpuNumber(text, part.slice(0, dash));
    const last = cpuNumber(text, part.slice(dash + 1));
    if (last < first) throw new SysfsFormatError(text, `range "${part}" runs backwards`);
    for (let c = first; c <= last; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * A CPU mask as the kernel prints it: hexadecimal 32-bit words separated by commas, most significant
 * first ("00000000,0000000f" → [0,1,2,3]; "3" → [0,1]). Every word but the first has exactly 8 digits.
 */
export function parseCpuMask(text: string): number[] {
  const t = text.trim();
  const words = t.split(",");
  if (t === "" || words.some((w, i) => !/^[0-9a-fA-F]+$/.test(w) || (i > 0 && w.length !== 8))) {
    throw new SysfsFormatError(text, "not a CPU mask (hex words of 8 digits separated by commas)");
  }
  const digits = words.join("");
  const cpus: number[] = [];
  for (let i = 0; i < digits.length; i++) {
    const nibble = parseInt(digits[digits.length - 1 - i] ?? "0", 16);
    for (let bit = 0; bit < 4; bit++) {
      if ((nibble & (1 << bit)) === 0) continue;
      const cpu = i * 4 + bit;
      if (cpu > MAX_CPU) throw new SysfsFormatError(text, `CPU ${cpu} is above ${MAX_CPU}`);
      cpus.push(cpu);
    }
  }
  return cpus;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A cache size as sysfs prints it ("32K", "30M", "5118K", or plain bytes), in bytes. */
export function parseSize(text: string): number {
  const m = /^(0|[1-9][0-9]*)([KMG]?)$/.exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : SIZE_UNITS[m[2]];
  if (m?.[1] === undefined || unit === undefined) {
    throw new SysfsFormatError(text, 'not a size (a number with an optional K, M or G suffix, e.g. "32K")');
  }
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new SysfsFormatError(text, "size out of range");
  return bytes;
}
