/**
 * `fable daemon run|start|status|stop|unit`: the per-user name service (src/daemon/).
 * `run` serves in the foreground (what `start`, the library's autostart and a systemd unit run);
 * `start` runs it detached, logging to the state directory; `unit` prints a systemd user unit.
 * Paths come from the environment (src/naming/paths.ts: FABLE_RUNTIME_DIR, XDG_RUNTIME_DIR, ...).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { createMeasuredSelector } from "../bench/selection.js";
import type { Selector } from "../daemon/selector.js";
import { Daemon, DaemonRunningError, processAlive } from "../daemon/server.js";
import { UsageError } from "../errors.js";
import { DaemonClient } from "../naming/daemon-client.js";
import { controlSocket, daemonPaths, ensurePrivateDir, logFile } from "../naming/paths.js";

const BIN = fileURLToPath(new URL("../../../bin/fable.js", import.meta.url));

/** The Selector `fable daemon run` hands the daemon. */
function makeSelector(): Selector {
  // This host's newest bench result; the fixed order (and a short calibration) while there is none.
  return createMeasuredSelector();
}

export function registerDaemon(program: Command, setExit: (code: number) => void): void {
  const daemon = program.command("daemon").description("the per-user fable daemon: names, transport choice, flows");

  daemon
    .command("run", { isDefault: true })
    .description("serve in the foreground until stopped (SIGTERM, SIGINT or `fable daemon stop`)")
    .option("--metrics <host:port>", "also serve Prometheus text metrics on loopback, e.g. 127.0.0.1:9464")
    .action(async (flags: { metrics?: string }) => {
      const paths = daemonPaths();
      let d: Daemon;
      try {
        d = await Daemon.start({
          paths,
          selector: makeSelector(),
          ...(flags.metrics !== undefined ? { metrics: parseHostPort(flags.metrics) } : {}),
          log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
        });
      } catch (err) {
        if (err instanceof DaemonRunningError) {
          process.stderr.write(`fable daemon: ${err.message}\n`);
          setExit(1);
          return;
        }
        throw err;
      }
      if (d.metricsUrl !== null) process.stdout.write(`metrics at ${d.metricsUrl}\n`);
      const stop = (): void => void d.close();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      await d.done;
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    });

  daemon
    .command("start")
    .description("start the daemon in the background if none runs (logs to the state directory)")
    .action(async () => {
      const paths = daemonPaths();
      const client = new DaemonClient({ paths, autostart: false });
      try {
        const s = await client.request({ type: "status" });
        process.stdout.write(`a fable daemon already runs (pid ${s.pid}) at ${s.socket}\n`);
        return;
      } catch {
        // none answers: start one
      } finally {
        client.close();
      }
      ensurePrivateDir(paths.runtimeDir);
      ensurePrivateDir(paths.stateDir);
      const log = openSync(logFile(paths), "a", 0o600);
      const child = spawn(process.execPath, [BIN, "daemon", "run"], { detached: true, stdio: ["ignore", log, log] });
      closeSync(log);
      child.unref();
      const started = new DaemonClient({ paths, autostart: false });
      try {
        for (let i = 0; ; i++) {
          try {
            const s = await started.request({ type: "status" });
            process.stdout.write(`fable daemon started (pid ${s.pid}) at ${s.socket}; log: ${logFile(paths)}\n`);
            return;
          } catch (err) {
            if (i >= 100) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      } finally {
        started.close();
      }
    });

  daemon
    .command("status")
    .description("whether a daemon runs, and what it holds")
    .option("--json", "print JSON")
    .action((flags: { json?: boolean }) =>
      withDaemon(setExit, async (client) => {
        const s = await client.request({ type: "status" });
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          [
            `fable daemon pid ${s.pid} (uid ${s.uid}), protocol ${s.version}, up since ${new Date(s.startedAt).toISOString()}`,
            `socket:    ${s.socket}`,
            `selection: ${s.selector}`,
            `names: ${s.names}   flows: ${s.flows}   clients: ${s.clients}`,
            `metrics:   ${s.metrics ?? "off (fable daemon run --metrics 127.0.0.1:9464)"}`,
            ...(s.memory !== undefined
              ? [
                  `memory:    RSS ${mib(s.memory.rss)}, JS heap ${mib(s.memory.heapUsed)} used of ${mib(s.memory.heapTotal)}`,
                ]
              : []),
          ].join("\n") + "\n",
        );
      }),
    );

  daemon
    .command("stop")
    .description("stop the running daemon (established connections keep working)")
    .action(() =>
      withDaemon(setExit, async (client) => {
        const { pid } = await client.request({ type: "status" });
        await client.request({ type: "stop" });
        for (let i = 0; processAlive(pid) && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
        process.stdout.write(`fable daemon ${pid} stopped\n`);
      }),
    );

  daemon
    .command("unit")
    .description("print a systemd user unit (save as ~/.config/systemd/user/fable.service)")
    .action(() => {
      process.stdout.write(
        [
          "[Unit]",
          "Description=fable daemon: names, transport selection and flows for fable-io",
          "",
          "[Service]",
          "Type=simple",
          `ExecStart=${process.execPath} ${BIN} daemon run`,
          "Restart=on-failure",
          "",
          "[Install]",
          "WantedBy=default.target",
          "",
        ].join("\n"),
      );
    });
}

/** Runs `fn` with a client of the running daemon; none running: says so, exit code 1. */
async function withDaemon(setExit: (code: number) => void, fn: (client: DaemonClient) => Promise<void>): Promise<void> {
  const paths = daemonPaths();
  const client = new DaemonClient({ paths, autostart: false });
  try {
    await fn(client);
  } catch (err) {
    process.stdout.write(`no fable daemon runs at ${controlSocket(paths)} (${(err as Error).message})\n`);
    setExit(1);
  } finally {
    client.close();
  }
}

export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535)
    throw new UsageError(`--metrics takes host:port, such as 127.0.0.1:9464, not ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2] ?? "", port };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
