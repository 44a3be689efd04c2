/**
 * The Node probe's failures: each carries one of the probe contract's codes (src/bench/probe.ts), so
 * main.ts can turn any of them into the one ProbeFailure object, and a peer can send one across a
 * process or thread boundary and have it rebuilt unchanged on side A.
 */
import { FableError, NativeUnavailableError } from "../../errors.js";
import type { ProbeErrorCode, ProbeMode } from "../probe.js";

export class ProbeError extends FableError {
  declare readonly code: ProbeErrorCode;
  /** For ESEQUENCE: the sequence number the reader expected and the one it received. */
  readonly expected: number | undefined;
  readonly received: number | undefined;

  constructor(
    code: ProbeErrorCode,
    message: string,
    sequence?: { readonly expected: number; readonly received: number },
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.expected = sequence?.expected;
    this.received = sequence?.received;
  }
}

/** Bad arguments; knows as much of the invocation as was valid, for the failure object. */
export class ProbeUsageError extends ProbeError {
  readonly mechanism: string | undefined;
  readonly mode: ProbeMode | undefined;

  constructor(message: string, known: { readonly mechanism?: string; readonly mode?: ProbeMode } = {}) {
    super("EUSAGE", message);
    this.mechanism = known.mechanism;
    this.mode = known.mode;
  }
}

/** A reader saw a sequence number other than the next one: a lost, duplicated or reordered message. */
export function sequenceError(expected: number, received: number, reader: string): ProbeError {
  return new ProbeError(
    "ESEQUENCE",
    `${reader} expected message sequence number ${expected} but received ${received}`,
    { expected, received },
  );
}

/** Any thrown value as a ProbeError: ours pass through, the rest are mapped to the closest code. */
export function toProbeError(err: unknown): ProbeError {
  if (err instanceof ProbeError) return err;
  if (err instanceof NativeUnavailableError) {
    return new ProbeError("EUNSUPPORTED", `${err.message} (the probe needs it to pin and verify CPUs)`, undefined, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProbeError("ESYSCALL", message, undefined, { cause: err });
}

/** The form in which a peer reports an error to side A (structured clone and JSON both carry it). */
export interface ErrorReport {
  readonly t: "error";
  readonly code: ProbeErrorCode;
  readonly message: string;
  readonly expected?: number;
  readonly received?: number;
}

export function errorReport(err: unknown): ErrorReport {
  const e = toProbeError(err);
  return {
    t: "error",
    code: e.code,
    message: e.message,
    ...(e.expected !== undefined ? { expected: e.expected } : {}),
    ...(e.received !== undefined ? { received: e.received } : {}),
  };
}

export function fromErrorReport(report: ErrorReport): ProbeError {
  return new ProbeError(
    report.code,
    report.message,
    report.expected !== undefined && report.received !== undefined
      ? { expected: report.expected, received: report.received }
      : undefined,
  );
}
