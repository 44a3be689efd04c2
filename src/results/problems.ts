/**
 * What can be wrong with a result file, as typed errors with stable codes. Every problem names the file
 * and the field (a JSON pointer, "" for the whole document), so a contributor can find and fix it; the
 * validator reports all it finds, and nothing that has a problem enters a results database.
 */
import { FableError } from "../errors.js";

/** Stable problem codes; the message says the rest. */
export const PROBLEM_CODES = {
  /** Not readable, not JSON, or not a JSON object. */
  EJSON: "not a JSON result document",
  /** Over a size, depth or length limit (limits.ts): refused before it is read further. */
  ELIMIT: "over a limit",
  /** A format version this fable does not read. */
  EVERSION: "unknown format version",
  /** A key outside the allow-list. */
  EUNKNOWNKEY: "key outside the allow-list",
  /** A value of the wrong shape (type, pattern, range). */
  ESCHEMA: "value out of shape",
  /** A suite name or version this fable does not know. */
  ESUITE: "unknown suite",
  /** A mechanism or a method version this fable does not know, or a run whose mechanism is not listed. */
  EMETHOD: "unknown method",
  /** Statistics that cannot be: percentiles out of order, mean outside [min, max], counts that disagree. */
  ESTATS: "impossible statistics",
  /** CPUs, placement classes or a latency matrix that disagree with the machine's topology. */
  ETOPOLOGY: "inconsistent with the topology",
  /** Throughput above a physical bound, or a rate that disagrees with bytes and time. */
  ETHROUGHPUT: "impossible throughput",
  /** A date that is not a real date, or in the future. */
  EDATE: "impossible date",
  /** Private data: a hostname, an address, an e-mail, a home path, a serial number, a UUID. */
  EPRIVATE: "private data",
  /** HTML, script or control characters in a string. */
  EMARKUP: "markup in a string",
  /** A name used for a database path that could escape it, or a file at the wrong place in a database. */
  EPATH: "unusable as a database path",
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;

/** One problem of one result file, at one field. */
export class ResultProblem extends FableError {
  override readonly code: ProblemCode;
  /** The file as given (or "<stdin>", or a name the caller chose). */
  readonly file: string;
  /** JSON pointer of the field at fault; "" for the whole document. */
  readonly pointer: string;
  /** What is wrong and what to do, without the file and the pointer. */
  readonly detail: string;

  constructor(code: ProblemCode, file: string, pointer: string, detail: string) {
    super(code, `${file}: ${pointer === "" ? "(document)" : pointer}: ${detail} [${code}]`);
    this.code = code;
    this.file = file;
    this.pointer = pointer;
    this.detail = detail;
  }
}

/** One or more result files have problems; nothing was added or changed. */
export class InvalidResultError extends FableError {
  readonly problems: readonly ResultProblem[];

  constructor(problems: readonly ResultProblem[]) {
    const files = new Set(problems.map((p) => p.file)).size;
    super(
      "EINVALIDRESULT",
      `${problems.length} problem${problems.length === 1 ? "" : "s"} in ${files} result file${files === 1 ? "" : "s"}:\n` +
        problems.map((p) => `  ${p.message}`).join("\n"),
    );
    this.problems = problems;
  }
}

/** A JSON pointer (RFC 6901) from path segments. */
export function pointerOf(segments: readonly (string | number)[]): string {
  return segments.map((s) => "/" + String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}
