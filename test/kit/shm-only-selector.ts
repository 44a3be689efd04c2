/**
 * A daemon selector that never ranks unix (the fixed order over shm alone): what a daemon that does
 * not know native unix streams (an older one) may answer a transparent-mode client whose server
 * takes them, so that the client gets a fable connection where it expected a native socket.
 */
import { DefaultOrderSelector } from "../../src/daemon/default-order.js";
import type { Selection, SelectionRequest, Selector } from "../../src/daemon/selector.js";

export class ShmOnlySelector implements Selector {
  readonly #inner = new DefaultOrderSelector();
  select(request: SelectionRequest): Selection {
    return this.#inner.select({ ...request, offered: request.offered.filter((t) => t === "shm") });
  }
  describe(): string {
    return "shm only (test: a daemon without native unix streams)";
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
