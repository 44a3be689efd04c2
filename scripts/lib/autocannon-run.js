// One autocannon run for bench:compat: node autocannon-run.js <url> <connections> <seconds>.
// Prints { rps, p50, p99 (ms), total, errors, non2xx, cpuUs (this process's CPU during the run) } as one JSON line.
// p50 and p99 come from autocannon's own response times (its 'response' event, in ms with
// fractions): its summary histogram rounds to whole ms, and at a fraction of a ms per request
// both transports would read 0 or 1 there.
import autocannon from "autocannon";

const [url, connections, seconds] = process.argv.slice(2);
const cpu = process.cpuUsage();
let times = new Float64Array(1 << 16);
let n = 0;
const r = await new Promise((resolve, reject) => {
  const instance = autocannon({ url, connections: Number(connections), duration: Number(seconds) }, (err, result) =>
    err ? reject(err) : resolve(result),
  );
  instance.on("response", (_client, statusCode, _bytes, responseTime) => {
    if (statusCode < 200 || statusCode >= 300) return;
    if (n === times.length) {
      const grown = new Float64Array(times.length * 2);
      grown.set(times);
      times = grown;
    }
    times[n++] = responseTime;
  });
});
const used = process.cpuUsage(cpu);
const sorted = times.subarray(0, n).sort();
const at = (q) => (n === 0 ? NaN : Number(sorted[Math.min(n - 1, Math.floor(n * q))].toFixed(3)));
const out = {
  rps: r.requests.average,
  p50: at(0.5),
  p99: at(0.99),
  total: r["2xx"],
  errors: r.errors + r.timeouts,
  non2xx: r.non2xx,
  cpuUs: used.user + used.system,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
