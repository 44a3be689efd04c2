// One autocannon run for bench:compat: node autocannon-run.js <url> <connections> <seconds>.
// Prints { rps, p50, p99 (ms), total, errors, non2xx, cpuUs (this process's CPU during the run) } as one JSON line.
import autocannon from "autocannon";

const [url, connections, seconds] = process.argv.slice(2);
const cpu = process.cpuUsage();
const r = await autocannon({ url, connections: Number(connections), duration: Number(seconds) });
const used = process.cpuUsage(cpu);
const out = {
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  total: r["2xx"],
  errors: r.errors + r.timeouts,
  non2xx: r.non2xx,
  cpuUs: used.user + used.system,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
