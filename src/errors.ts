/**
 * fable's errors: one base class with a stable `code`, one subclass per failure a caller may
 * handle. Every layer may import this file; it imports nothing of ours.
 */

export class FableError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The native addon is missing, failed to load, or lacks a capability that was needed. */
export class NativeUnavailableError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ENATIVE", message, options);
  }
}

/** A caller's argument or option is wrong (unknown mechanism, CPU that does not exist...). */
export class UsageError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("EUSAGE", message, options);
  }
}
