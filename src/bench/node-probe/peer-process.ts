/**
 * Starts side B as a separate Node process (peer.js beside this file) with the default child_process
 * IPC channel (JSON serialization). The probe's stdout stays clean: the peer's stdout and stderr are
 * kept (the last few KiB) to explain an EPEER. The peer is killed on every path.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PeerConfig } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Supervisor } from "./supervisor.js";

const OUTPUT_TAIL_CHARS = 2000;

export interface ForkOptions {
  /** Also give the peer a pipe (a unix socket pair, as libuv makes them) as its fd 4. */
  readonly extraPipe?: boolean;
}

export function forkPeer(
  config: PeerConfig,
  sup: Supervisor,
  onMessage: (msg: unknown) => void,
  options: ForkOptions = {},
): ChildProcess {
  const script = fileURLToPath(new URL("./peer.js", import.meta.url));
  const child = fork(script, [JSON.stringify(config)], {
    serialization: "json",
    stdio: options.extraPipe === true ? ["ignore", "pipe", "pipe", "ipc", "pipe"] : ["ignore", "pipe", "pipe", "ipc"],
    // The probe's own Node flags (a profiler, a test runner's) are not the peer's business.
    execArgv: [],
  });
  sup.onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("message", sup.guard(onMessage));
  child.on("error", (err) => sup.fail(new ProbeError("EPEER", `side B (pid ${child.pid}): ${err.message}`)));
  child.on("exit", (code, signal) =>
    sup.peerLost(() => {
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
      const said = output.trim();
      return `side B (pid ${child.pid}) ${how} before the test ended${said ? `; it said: ${said}` : ""}`;
    }),
  );
  return child;
}
