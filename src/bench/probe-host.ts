/**
 * Serving probes: a bench run starts each probe once (`--serve`) and sends it test after test, so a
 * round pays no process start-up (Node's ~75 ms plus the probe's imports; the engine's TSC
 * calibration and samples region). Both probes speak the same protocol: one request per line on
 * stdin, the single-shot arguments of src/bench/probe.ts separated by tabs; one answer per request
 * on stdout, the single-shot ProbeOutput on one line.
 *
 * One host per (probe kind, mechanism): a host's JIT and lazily loaded modules serve one mechanism
 * only, and a host in trouble takes no other mechanism with it. What a host does wrong fails the
 * round it was running, as a probe that crashed did, and the host is killed and replaced on the
 * next request: it exits (EPEER, with its last words), answers a line that is not a probe result
 * (EPEER), or does not answer in time (ETIMEOUT). A host may also retire: announced by a line
 * {"retiring":"why"} before its answer (the Node probe retires after a failed test); the next request
 * then starts a fresh one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { ProbeKind } from "./mechanisms.js";
import type { ProbeOutput } from "./probe.js";

const STDERR_TAIL_CHARS = 2000;
/** An answer longer than this is not a probe result. */
const MAX_ANSWER_CHARS = 1 << 20;

export type HostCommand = (kind: ProbeKind) => [string, string[]];

interface Pending {
  resolve(output: ProbeOutput): void;
  timer: NodeJS.Timeout;
}

function hostFailure(kind: ProbeKind, code: "EPEER" | "ETIMEOUT", message: string): ProbeOutput {
  return { ok: false, probe: kind, error: { code, message } };
}

/** The answer if `line` is a probe result of this kind, else why not. */
export function parseAnswer(line: string, kind: ProbeKind): ProbeOutput | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "it is not JSON";
  }
  const o = value as Partial<Record<string, unknown>> | null;
  if (typeof o !== "object" || o === null || Array.isArray(o)) return "it is not a JSON object";
  if (o.probe !== kind) return `its probe is ${JSON.stringify(o.probe)}, not "${kind}"`;
  if (o.ok === false) {
    const e = o.error as Partial<Record<string, unknown>> | null | undefined;
    if (typeof e !== "object" || e === null || typeof e.code !== "string" || typeof e.message !== "string")
      return "a failure without an error code and message";
    return value as ProbeOutput;
  }
  if (o.ok !== true) return "it has no ok flag";
  for (const k of ["iterations", "warmupIterations", "elapsedNs", "bytes", "batchMessages", "samples", "size"]) {
    if (typeof o[k] !== "number" || !Number.isFinite(o[k])) return `its ${k} is not a number`;
  }
  const pinning = o.pinning as Partial<Record<string, unknown>> | null | undefined;
  if (typeof pinning !== "object" || pinning === null || typeof pinning.verified !== "boolean")
    return "it has no pinning";
  if (!Array.isArray(pinning.observed) || pinning.observed.length !== 2) return "its pinning has no observed CPUs";
  const clock = o.clock as Partial<Record<string, unknown>> | null | undefined;
  if (typeof clock !== "object" || clock === null || typeof clock.source !== "string") return "it has no clock";
  if (typeof o.params !== "object" || o.params === null) return "it has no params";
  if (typeof o.budgetExhausted !== "boolean") return "it has no budgetExhausted flag";
  return value as ProbeOutput;
}

/** One serving probe process. */
export class ProbeHost {
  readonly child: ChildProcess;
  private buffer = "";
  private stderr = "";
  private pending: Pending | undefined;
  private gone: string | undefined;
  /** Why the host said it will exit after its current answer. */
  private retiring: string | undefined;

  constructor(
    readonly kind: ProbeKind,
    command: string,
    args: readonly string[],
  ) {
    this.child = spawn(command, [...args, "--serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdin?.on("error", () => undefined); // a dead host's stdin: its exit says more
    this.child.stdout?.setEncoding("utf8").on("data", (d: string) => this.onData(d));
    this.child.stderr
      ?.setEncoding("utf8")
      .on("data", (d: string) => (this.stderr = (this.stderr + d).slice(-STDERR_TAIL_CHARS)));
    this.child.on("error", (err) => this.end(`could not run: ${err.message} (is the build complete?)`));
    // "close": stdout is drained by then, so an answer written just before exiting is not lost.
    this.child.on("close", (code, signal) =>
      this.end(signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** False once the process is gone, was given up, or said it is retiring. */
  get alive(): boolean {
    return this.gone === undefined && this.retiring === undefined;
  }

  /** Runs one test; never rejects. Any failure of the host itself leaves it dead. */
  request(args: readonly string[], limitMs: number): Promise<ProbeOutput> {
    if (this.gone !== undefined) return Promise.resolve(this.failure("EPEER", `the probe host ${this.gone}`));
    if (this.pending !== undefined) throw new Error("ProbeHost.request: one request at a time");
    const bad = args.find((a) => /[\t\n\r]/.test(a));
    if (bad !== undefined) {
      return Promise.resolve(
        hostFailure(this.kind, "EPEER", `a probe argument holds a tab or a line break: ${JSON.stringify(bad)}`),
      );
    }
    return new Promise<ProbeOutput>((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        this.settle(this.failure("ETIMEOUT", `the probe host did not answer within ${limitMs} ms; it was killed`));
      }, limitMs);
      this.pending = { resolve, timer };
      this.child.stdin?.write(`${args.join("\t")}\n`);
    });
  }

  kill(): void {
    if (this.gone === undefined) this.gone = "was given up";
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** Closes stdin: a serving probe exits when its input ends. */
  close(): void {
    if (this.gone === undefined) this.gone = "was closed";
    this.child.stdin?.end();
  }

  private failure(code: "EPEER" | "ETIMEOUT", message: string): ProbeOutput {
    const said = this.stderr.trim().slice(-300);
    return hostFailure(this.kind, code, `${message} (pid ${String(this.pid)})${said ? `; it said: ${said}` : ""}`);
  }

  private settle(output: ProbeOutput): void {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.resolve(output);
  }

  private onData(d: string): void {
    this.buffer += d;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.answer(line);
    }
    if (this.buffer.length > MAX_ANSWER_CHARS) {
      this.buffer = "";
      this.corrupt(`an answer longer than ${MAX_ANSWER_CHARS} characters`);
    }
  }

  private answer(line: string): void {
    if (this.pending === undefined) {
      this.corrupt(`a line nobody asked for: ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    const notice = /^\{"retiring":("[^"\\]{0,200}")\}$/.exec(line);
    if (notice !== null && this.retiring === undefined) {
      this.retiring = JSON.parse(notice[1] as string) as string;
      return;
    }
    const parsed = parseAnswer(line, this.kind);
    if (typeof parsed === "string") {
      this.corrupt(`a line that is not a probe result (${parsed}): ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    this.settle(parsed);
  }

  /** A host that said something wrong is not trusted with another test. */
  private corrupt(what: string): void {
    this.kill();
    this.settle(this.failure("EPEER", `the probe host answered ${what}; it was killed`));
  }

  private end(how: string): void {
    this.gone ??= how;
    this.settle(this.failure("EPEER", `the probe host ${how} during the round`));
  }
}

/** The serving probes of one bench run, started on first use and replaced when one fails. */
export class ProbeHosts {
  private readonly hosts = new Map<string, ProbeHost>();

  /** `onStart` sees every host started (tests use it to act on a host mid-round). */
  constructor(
    private readonly command: HostCommand,
    private readonly onStart: (kind: ProbeKind, mechanism: string, pid: number | undefined) => void = () => undefined,
  ) {}

  /** Runs one test on the host of its probe kind and mechanism. Never rejects. */
  async run(kind: ProbeKind, mechanism: string, args: readonly string[], limitMs: number): Promise<ProbeOutput> {
    const key = kind === "engine" ? "engine" : `${kind}:${mechanism}`;
    let host = this.hosts.get(key);
    if (host === undefined || !host.alive) {
      const [command, prefix] = this.command(kind);
      host = new ProbeHost(kind, command, prefix);
      this.hosts.set(key, host);
      this.onStart(kind, mechanism, host.pid);
    }
    const output = await host.request(args, limitMs);
    if (!host.alive) this.hosts.delete(key);
    return output;
  }

  /** Ends every host (they exit when their stdin closes; a stuck one is killed a little later). */
  close(): void {
    for (const host of this.hosts.values()) {
      host.close();
      setTimeout(() => host.kill(), 2_000).unref();
    }
    this.hosts.clear();
  }
}
