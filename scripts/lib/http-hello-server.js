// An unmodified node:http server for bench:compat's autocannon section: "ok" to every request.
// Prints its port once listening; exits when stdin ends. GET /cpu answers this process's CPU time
// so far (process.cpuUsage, µs), for the bench's CPU per request.
import http from "node:http";

const server = http.createServer((req, res) => {
  if (req.url !== "/cpu") return res.end("ok");
  const { user, system } = process.cpuUsage();
  res.end(String(user + system));
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify(server.address().port)}\n`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
