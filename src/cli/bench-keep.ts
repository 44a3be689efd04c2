/**
 * `fable bench`'s copy of its result in the user's data directory, where the daemon's transport
 * selection finds it (src/bench/stored-results.ts). Kept beside the file the run writes; a copy
 * that cannot be kept is said, and the run counts as failed.
 */
import type { ResultFile } from "../bench/result.js";
import { keepResult } from "../bench/stored-results.js";

/** Keeps the result and says where on `log`; false when it could not be kept. */
export function keepForSelection(doc: ResultFile, log: (line: string) => void): boolean {
  try {
    log(`kept for transport selection: ${keepResult(doc)}`);
    return true;
  } catch (err) {
    log(`not kept for transport selection: ${(err as Error).message}`);
    return false;
  }
}
