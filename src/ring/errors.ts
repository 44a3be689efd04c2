/**
 * Errors of the ring layer. Transports wrap them in their TransportError (same code, this error
 * as the cause); the ring cannot import the transport contract (lower layers never import higher
 * ones).
 */
import { FableError } from "../errors.js";

export type RingErrorCode =
  | "EPROTOCOL" // the peer broke the ring protocol (a value in shared memory is out of bounds)
  | "ETOOBIG" // a record larger than the ring's maxRecordBytes
  | "EORDER" // publish/free with nothing outstanding
  | "ECLOSED" // the ring end was closed
  | "EUSAGE"; // a wrong argument (length above the reservation, flags outside the mask)

export class RingError extends FableError {
  declare readonly code: RingErrorCode;

  constructor(code: RingErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
