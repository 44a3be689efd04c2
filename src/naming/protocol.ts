/**
 * The fable daemon's control protocol, in one place for both sides: the client (naming/) and the
 * daemon (daemon/, which sits above naming and imports this file).
 *
 * Frames: a 4-byte little-endian length, then that many bytes: one version byte (PROTOCOL_VERSION)
 * and a UTF-8 JSON message. A frame longer than MAX_FRAME_BYTES, of another version, or whose JSON
 * does not parse is a ProtocolError, and the daemon hangs up after saying so: the stream can no
 * longer be trusted to be in step. A message that parses but does not match its schema gets an
 * error reply (EBADREQUEST) and the connection goes on. Every request carries an `id` the reply
 * repeats; a client may have many requests in flight.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { FableError } from "../errors.js";
import { MAX_NAME_LENGTH, NAME_PATTERN } from "./uri.js";

export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts (a `names` reply for 10,000 names fits). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Largest request the daemon accepts: requests are small; only replies list many things. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** A frame that breaks the protocol (length, version, JSON). */
export class ProtocolError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("EPROTOCOL", message, options);
  }
}

/** The daemon refused a request, or could not be reached; `code` is the daemon's (EADDRINUSE, EACCES, ENOENT...). */
export class DaemonError extends FableError {}

// ---- messages -------------------------------------------------------------------------------

export type SelectableTransport = "shm" | "unix" | "tcp";

/**
 * A transport and wait strategy, and the daemon's choice among them, as they travel. The daemon's
 * Selector (daemon/selector.ts) produces exactly these shapes; they are restated here because
 * naming sits below the daemon and imports nothing of it.
 */
export interface Candidate {
  readonly transport: SelectableTransport;
  readonly wait: "spin" | "adaptive" | "block" | null;
}

export interface Selection {
  readonly ranked: readonly Candidate[];
  readonly verdicts: readonly {
    readonly candidate: Candidate;
    readonly prediction: {
      readonly roundTripNs: number | null;
      readonly bytesPerSecond: number | null;
      readonly source: string;
    } | null;
    readonly excluded?: string;
    readonly rank?: number;
    readonly reason: string;
  }[];
  readonly basis: "measured" | "default-order";
  readonly result?: string;
}

/** Where a listener can be reached: its own rendezvous endpoints (the daemon never carries data). */
export interface Endpoints {
  /** shm rendezvous sockets, one per wait strategy of the listener's end. */
  readonly shm?: { readonly spin: string; readonly adaptive: string; readonly block: string };
  readonly unix?: string;
  readonly tcp?: { readonly host: string; readonly port: number };
  /**
   * A unix socket where the listener's application takes raw byte streams on a node:net socket of
   * its own (transparent mode): no fable framing, so a connector uses it only when it hands the
   * connection to its application as a node:net socket too (RequirementsWire.socket) and the
   * daemon ranks unix first. Not reconfigurable.
   */
  readonly stream?: string;
}

export interface RequirementsWire {
  readonly latency: "critical" | "bulk";
  readonly spin: boolean;
  readonly trust: "trusted" | "untrusted";
  readonly sizes: readonly number[];
  /**
   * The connector hands the connection to its application as a node:net socket (transparent mode)
   * and can open a listener's native stream endpoint (Endpoints.stream) instead of a fable one.
   */
  readonly socket?: boolean;
}

export interface FlowCounters {
  readonly sentMessages: number;
  readonly sentBytes: number;
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  /** Times a write met back-pressure. */
  readonly writeWaits: number;
}

export interface FlowAttempt {
  readonly candidate: Candidate;
  /** Why setting it up failed. */
  readonly error: string;
}

// ---- live reconfiguration (issue 10): flow events, triggers, daemon pushes ------------------

/** Transports a flow can run on after a switch. */
export type FlowTransport = SelectableTransport | "tls";

/** A transport and wait strategy a flow is switched to (wait: shm only). */
export interface PathChoice {
  readonly transport: FlowTransport;
  readonly wait: Candidate["wait"];
}

/** "shm:block", "tcp". */
export function choiceText(c: PathChoice): string {
  return c.wait === null ? c.transport : `${c.transport}:${c.wait}`;
}

/** Why a flow switched. */
export type SwitchReason = "manual" | "contention" | "location" | "trust" | "failure" | "peer";

/** One switch of a flow (or a failed attempt: `error`), as its connecting end reports it. */
export interface FlowEvent {
  readonly from: PathChoice;
  readonly to: PathChoice;
  readonly epoch: number;
  readonly reason: SwitchReason;
  /** From agreeing on the new path (or the failure) to both directions on it. */
  readonly pauseMs: number;
  /** Messages re-sent after a failure. */
  readonly resent: number;
  /** When it finished, ms since the epoch. */
  readonly at: number;
  /** The switch did not happen: why (the flow stays on `from`). */
  readonly error?: string;
}

/**
 * Messages the daemon sends to a client unasked (no `id`: they are not replies). The only one:
 * switch the connecting end's flow `flowId` to `to`, for `reason`; the client answers with a
 * `flow-event` request once the switch is done or failed.
 */
export interface Push {
  readonly push: "reconfigure";
  readonly flowId: string;
  readonly to: PathChoice;
  readonly reason: SwitchReason;
}

/** A flow as its connecting end reports it. */
export interface FlowReport {
  readonly id: string;
  readonly name: string;
  readonly listenerPid: number;
  readonly listenerCpus: readonly number[];
  readonly connectorCpus: readonly number[];
  /** The transport the flow runs on now (tls only after a switch: the daemon never selects it at setup). */
  readonly transport: FlowTransport;
  readonly wait: Candidate["wait"];
  readonly epoch: number;
  /** Candidates tried before this one and why each failed (the fallbacks taken). */
  readonly fallbacks: readonly FlowAttempt[];
  /** When the connection was made, ms since the epoch. */
  readonly since: number;
  readonly counters: FlowCounters;
}

export type Request =
  | {
      readonly id: number;
      readonly type: "register";
      readonly name: string;
      readonly allow: readonly number[];
      readonly endpoints: Endpoints;
    }
  | { readonly id: number; readonly type: "unregister"; readonly name: string }
  | {
      readonly id: number;
      readonly type: "resolve";
      readonly name: string;
      readonly requirements: RequirementsWire;
      /** Whose placement to choose for (explain --pid); default the requesting process. */
      readonly pid?: number;
    }
  | { readonly id: number; readonly type: "flow"; readonly flow: FlowReport }
  | { readonly id: number; readonly type: "flow-close"; readonly flowId: string }
  | { readonly id: number; readonly type: "names" }
  | { readonly id: number; readonly type: "flows" }
  | { readonly id: number; readonly type: "status" }
  | { readonly id: number; readonly type: "stop" }
  // -- issue 10: live reconfiguration --
  /** Switch a flow (an administrator's or application's command): the daemon pushes it to the connecting end. */
  | { readonly id: number; readonly type: "reconfigure"; readonly flowId: string; readonly to: PathChoice }
  /** The connecting end reports a switch of its flow (or a failed one). */
  | { readonly id: number; readonly type: "flow-event"; readonly flowId: string; readonly event: FlowEvent }
  /** An end of a flow moved: `apart` when its two ends no longer share a host's memory (shm -> tcp). */
  | { readonly id: number; readonly type: "flow-location"; readonly flowId: string; readonly apart: boolean }
  /** The path between a flow's ends stopped (or started again) being trusted (-> tls and back). */
  | { readonly id: number; readonly type: "flow-trust"; readonly flowId: string; readonly trusted: boolean }
  /** This end's credentials for tls paths: a leaf of the daemon's per-user CA (the daemon's uid only). */
  | { readonly id: number; readonly type: "tls-credentials" };

export type RequestType = Request["type"];
/** A request as a client writes it (the client numbers it). */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, "id"> : never) : never;

export interface NameEntry {
  readonly name: string;
  readonly uid: number;
  readonly pid: number;
  readonly allow: readonly number[];
  readonly offered: readonly SelectableTransport[];
  /** When it was registered (ms since the epoch; a daemon restart resets it to the re-registration). */
  readonly since: number;
}

export interface FlowEntry extends FlowReport {
  readonly connectorPid: number;
  readonly uid: number;
  /** Messages and bytes per second each way over the last two reports (0 until there are two). */
  readonly rates: {
    readonly sentMessages: number;
    readonly sentBytes: number;
    readonly receivedMessages: number;
    readonly receivedBytes: number;
  };
  /** When the daemon last heard of it (ms since the epoch). */
  readonly reportedAt: number;
  /** Made by transparent mode: its name is an address's (naming/address-names.ts). */
  readonly transparent: boolean;
  /** Its switches, newest last (the last FLOW_EVENTS_KEPT). */
  readonly events: readonly FlowEvent[];
  /** Switches in all (events are capped; this is not). */
  readonly switches: number;
}

/** Events kept per flow. */
export const FLOW_EVENTS_KEPT = 32;

export interface DaemonStatus {
  readonly pid: number;
  readonly uid: number;
  readonly version: number;
  readonly startedAt: number;
  readonly socket: string;
  readonly selector: string;
  readonly names: number;
  readonly flows: number;
  readonly clients: number;
  readonly metrics: string | null;
  /**
   * The daemon process's memory now, in bytes (process.memoryUsage()): `heapUsed` includes
   * garbage not yet collected, so its lows over a while are what the daemon holds.
   */
  readonly memory?: { readonly rss: number; readonly heapUsed: number; readonly heapTotal: number };
}

export interface ResolveReply {
  readonly listener: {
    readonly pid: number;
    readonly uid: number;
    readonly cpus: readonly number[];
    readonly endpoints: Endpoints;
  };
  readonly connector: { readonly pid: number; readonly cpus: readonly number[] };
  readonly selection: Selection;
}

export interface ReplyBodies {
  register: Record<string, never>;
  unregister: Record<string, never>;
  resolve: ResolveReply;
  flow: Record<string, never>;
  "flow-close": Record<string, never>;
  names: { readonly names: readonly NameEntry[] };
  flows: { readonly flows: readonly FlowEntry[] };
  status: DaemonStatus;
  stop: Record<string, never>;
  /** `epoch`: the flow's epoch when the switch was pushed (its event will have a higher one). */
  reconfigure: { readonly pushed: true; readonly epoch: number; readonly from: PathChoice };
  "flow-event": Record<string, never>;
  /** `pushed`: the switch the mark caused, if any. */
  "flow-location": { readonly pushed: PathChoice | null };
  "flow-trust": { readonly pushed: PathChoice | null };
  "tls-credentials": { readonly key: string; readonly cert: string; readonly ca: string };
}

export type Reply =
  | ({ readonly id: number | null; readonly ok: true } & Record<string, unknown>)
  | {
      readonly id: number | null;
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
    };

// ---- schemas --------------------------------------------------------------------------------

const uint = { type: "integer", minimum: 0, maximum: 0xffffffff } as const;
const count = { type: "number", minimum: 0 } as const;
const name = { type: "string", minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: NAME_PATTERN } as const;
const path = { type: "string", minLength: 2, maxLength: 107, pattern: "^/" } as const;
const transport = { enum: ["shm", "unix", "tcp"] } as const;
const wait = { enum: ["spin", "adaptive", "block", null] } as const;
const candidate = {
  type: "object",
  additionalProperties: false,
  required: ["transport", "wait"],
  properties: { transport, wait },
} as const;
const cpus = { type: "array", maxItems: 4096, items: { type: "integer", minimum: 0, maximum: 65535 } } as const;
const flowId = { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9-]+$" } as const;
const flowTransport = { enum: ["shm", "unix", "tcp", "tls"] } as const;
const pathChoice = {
  type: "object",
  additionalProperties: false,
  required: ["transport", "wait"],
  properties: { transport: flowTransport, wait },
} as const;
const reason = { enum: ["manual", "contention", "location", "trust", "failure", "peer"] } as const;
const flowEvent = {
  type: "object",
  additionalProperties: false,
  required: ["from", "to", "epoch", "reason", "pauseMs", "resent", "at"],
  properties: {
    from: pathChoice,
    to: pathChoice,
    epoch: uint,
    reason,
    pauseMs: count,
    resent: count,
    at: count,
    error: { type: "string", maxLength: 1000 },
  },
} as const;

function message(type: string, properties: Record<string, unknown> = {}, required: string[] = []): object {
  return {
    type: "object",
    additionalProperties: false,
    required: ["id", "type", ...required],
    properties: { id: uint, type: { const: type }, ...properties },
  };
}

const requestSchema = {
  oneOf: [
    message(
      "register",
      {
        name,
        allow: { type: "array", maxItems: 64, uniqueItems: true, items: uint },
        endpoints: {
          type: "object",
          additionalProperties: false,
          properties: {
            shm: {
              type: "object",
              additionalProperties: false,
              required: ["spin", "adaptive", "block"],
              properties: { spin: path, adaptive: path, block: path },
            },
            unix: path,
            stream: path,
            tcp: {
              type: "object",
              additionalProperties: false,
              required: ["host", "port"],
              properties: {
                host: { type: "string", minLength: 1, maxLength: 255 },
                port: { type: "integer", minimum: 1, maximum: 65535 },
              },
            },
          },
        },
      },
      ["name", "allow", "endpoints"],
    ),
    message("unregister", { name }, ["name"]),
    message(
      "resolve",
      {
        name,
        pid: { type: "integer", minimum: 1, maximum: 0x7fffffff },
        requirements: {
          type: "object",
          additionalProperties: false,
          required: ["latency", "spin", "trust", "sizes"],
          properties: {
            latency: { enum: ["critical", "bulk"] },
            spin: { type: "boolean" },
            trust: { enum: ["trusted", "untrusted"] },
            sizes: { type: "array", maxItems: 16, items: { type: "integer", minimum: 0, maximum: 2 ** 32 } },
            socket: { type: "boolean" },
          },
        },
      },
      ["name", "requirements"],
    ),
    message(
      "flow",
      {
        flow: {
          type: "object",
          additionalProperties: false,
          required: [
            "id",
            "name",
            "listenerPid",
            "listenerCpus",
            "connectorCpus",
            "transport",
            "wait",
            "epoch",
            "fallbacks",
            "since",
            "counters",
          ],
          properties: {
            id: flowId,
            name,
            listenerPid: { type: "integer", minimum: 1 },
            listenerCpus: cpus,
            connectorCpus: cpus,
            transport: flowTransport,
            wait,
            epoch: uint,
            fallbacks: {
              type: "array",
              maxItems: 8,
              items: {
                type: "object",
                additionalProperties: false,
                required: ["candidate", "error"],
                properties: { candidate, error: { type: "string", maxLength: 1000 } },
              },
            },
            since: count,
            counters: {
              type: "object",
              additionalProperties: false,
              required: ["sentMessages", "sentBytes", "receivedMessages", "receivedBytes", "writeWaits"],
              properties: {
                sentMessages: count,
                sentBytes: count,
                receivedMessages: count,
                receivedBytes: count,
                writeWaits: count,
              },
            },
          },
        },
      },
      ["flow"],
    ),
    message("flow-close", { flowId: { type: "string", minLength: 1, maxLength: 64 } }, ["flowId"]),
    message("names"),
    message("flows"),
    message("status"),
    message("stop"),
    // -- issue 10: live reconfiguration --
    message("reconfigure", { flowId, to: pathChoice }, ["flowId", "to"]),
    message("flow-event", { flowId, event: flowEvent }, ["flowId", "event"]),
    message("flow-location", { flowId, apart: { type: "boolean" } }, ["flowId", "apart"]),
    message("flow-trust", { flowId, trusted: { type: "boolean" } }, ["flowId", "trusted"]),
    message("tls-credentials"),
  ],
} as const;

const pushSchema = {
  type: "object",
  additionalProperties: false,
  required: ["push", "flowId", "to", "reason"],
  properties: { push: { const: "reconfigure" }, flowId, to: pathChoice, reason },
} as const;

const replySchema = {
  oneOf: [
    {
      type: "object",
      required: ["id", "ok"],
      properties: { id: { anyOf: [uint, { type: "null" }] }, ok: { const: true } },
    },
    {
      type: "object",
      required: ["id", "ok", "error"],
      properties: {
        id: { anyOf: [uint, { type: "null" }] },
        ok: { const: false },
        error: {
          type: "object",
          required: ["code", "message"],
          properties: { code: { type: "string" }, message: { type: "string" } },
        },
      },
    },
  ],
} as const;

// Compiled on first use, each side its own: a client (every process under `fable run` that connects)
// checks replies and pushes only, and compiling the daemon's request schemas too cost its first
// connect tens of milliseconds of CPU.
let ajv: Ajv | undefined;
let requestValidators: Map<string, ValidateFunction> | undefined;
let replyValidators: { reply: ValidateFunction; push: ValidateFunction } | undefined;

function compiler(): Ajv {
  ajv ??= new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
  return ajv;
}

function compiledRequests(): Map<string, ValidateFunction> {
  if (requestValidators === undefined) {
    // One validator per request type, chosen by `type`: its errors then speak of that request only.
    const requests = new Map<string, ValidateFunction>();
    for (const schema of requestSchema.oneOf) {
      requests.set(
        (schema as { properties: { type: { const: string } } }).properties.type.const,
        compiler().compile(schema),
      );
    }
    requestValidators = requests;
  }
  return requestValidators;
}

function compiledReplies(): { reply: ValidateFunction; push: ValidateFunction } {
  replyValidators ??= { reply: compiler().compile(replySchema), push: compiler().compile(pushSchema) };
  return replyValidators;
}

/** The request if `value` is one, else a one-line reason (ajv's, with the request's type). */
export function checkRequest(value: unknown): { ok: true; request: Request } | { ok: false; reason: string } {
  const type = typeof value === "object" && value !== null ? (value as { type?: unknown }).type : undefined;
  const validate = typeof type === "string" ? compiledRequests().get(type) : undefined;
  if (validate === undefined) return { ok: false, reason: `unknown request type ${JSON.stringify(type)}` };
  if (validate(value)) return { ok: true, request: value as Request };
  const e = validate.errors?.[0];
  const where = e === undefined || e.instancePath === "" ? "" : ` at ${e.instancePath}`;
  const extra = e?.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : "";
  return {
    ok: false,
    reason: `bad ${String(type)} request${where}: ${e?.message ?? "does not match its schema"}${extra}`,
  };
}

export function checkReply(value: unknown): value is Reply {
  return compiledReplies().reply(value);
}

/** Whether a message from the daemon is a push (and a well-formed one). */
export function checkPush(value: unknown): value is Push {
  return compiledReplies().push(value);
}

/** The id of something that looked like a request, to answer a bad one (null when it had none). */
export function requestId(value: unknown): number | null {
  const id = typeof value === "object" && value !== null ? (value as { id?: unknown }).id : undefined;
  return typeof id === "number" && Number.isInteger(id) && id >= 0 && id <= 0xffffffff ? id : null;
}

// ---- frames ---------------------------------------------------------------------------------

export function encodeFrame(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message), "utf8");
  const frame = Buffer.allocUnsafe(5 + json.length);
  frame.writeUInt32LE(json.length + 1, 0);
  frame.writeUInt8(PROTOCOL_VERSION, 4);
  json.copy(frame, 5);
  return frame;
}

/** Splits a byte stream into messages; throws ProtocolError on a frame it cannot trust. */
export class FrameDecoder {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(maxFrameBytes: number = MAX_FRAME_BYTES) {
    this.#max = maxFrameBytes;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): unknown[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.#buffered < 4) return out;
      const head = this.#join();
      const length = head.readUInt32LE(0);
      if (length < 1 || length > this.#max) {
        throw new ProtocolError(`a frame of ${length} bytes (between 1 and ${this.#max})`);
      }
      if (this.#buffered < 4 + length) return out;
      const version = head.readUInt8(4);
      if (version !== PROTOCOL_VERSION) {
        throw new ProtocolError(`a frame of protocol version ${version}; this side speaks ${PROTOCOL_VERSION}`);
      }
      const text = head.toString("utf8", 5, 4 + length);
      const rest = head.subarray(4 + length);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      try {
        out.push(JSON.parse(text));
      } catch (cause) {
        throw new ProtocolError(`a frame that is not JSON: ${(cause as Error).message}`, { cause });
      }
    }
  }

  #join(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] as Buffer;
  }
}
