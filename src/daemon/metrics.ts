/**
 * Opt-in Prometheus text metrics of the daemon (`fable daemon run --metrics 127.0.0.1:9464`),
 * served by prom-client on loopback only: names, flows, and every flow's counters labelled by name,
 * flow id, transport and wait strategy; switches of flows by reason, from and to (count, pause,
 * messages re-sent). Values are read from the flow table at scrape time.
 */
import http from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import { UsageError } from "../errors.js";
import { internalServer } from "../transports/common.js";
import type { NameService } from "./name-service.js";

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export async function startMetrics(
  at: { readonly host: string; readonly port: number },
  daemon: { readonly service: NameService; readonly clients: number },
): Promise<MetricsServer> {
  if (!LOOPBACK.has(at.host)) {
    throw new UsageError(`--metrics serves on loopback only (127.0.0.1 or ::1), not ${at.host}`);
  }
  const registry = new Registry();
  const flowLabels = ["name", "flow", "transport", "wait"] as const;
  new Gauge({
    name: "fable_names",
    help: "Names registered with this daemon",
    registers: [registry],
    collect() {
      this.set(daemon.service.nameCount);
    },
  });
  new Gauge({
    name: "fable_clients",
    help: "Open control connections",
    registers: [registry],
    collect() {
      this.set(daemon.clients);
    },
  });
  const counters = [
    ["fable_flow_sent_messages", "Messages the connecting end sent", "sentMessages"],
    ["fable_flow_sent_bytes", "Bytes the connecting end sent", "sentBytes"],
    ["fable_flow_received_messages", "Messages the connecting end received", "receivedMessages"],
    ["fable_flow_received_bytes", "Bytes the connecting end received", "receivedBytes"],
    ["fable_flow_write_waits", "Writes of the connecting end that met back-pressure", "writeWaits"],
  ] as const;
  for (const [name, help, key] of counters) {
    new Gauge({
      name,
      help,
      labelNames: flowLabels,
      registers: [registry],
      collect() {
        this.reset();
        for (const f of daemon.service.allFlows()) {
          this.set({ name: f.name, flow: f.id, transport: f.transport, wait: f.wait ?? "kernel" }, f.counters[key]);
        }
      },
    });
  }
  const switchLabels = ["reason", "from", "to"] as const;
  const switches = [
    ["fable_flow_switches_total", "Switches of flows' transports", "count"],
    ["fable_flow_switch_pause_ms_total", "Delivery pauses of those switches, summed (ms)", "pauseMs"],
    ["fable_flow_switch_resent_total", "Messages re-sent after path failures", "resent"],
  ] as const;
  for (const [name, help, key] of switches) {
    new Counter({
      name,
      help,
      labelNames: switchLabels,
      registers: [registry],
      collect() {
        this.reset();
        for (const t of daemon.service.switchTotals()) this.inc({ reason: t.reason, from: t.from, to: t.to }, t[key]);
      },
    });
  }
  const server = internalServer(
    http.createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end("fable daemon: metrics are at /metrics\n");
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = at.host.includes(":") ? `[${at.host}]` : at.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
