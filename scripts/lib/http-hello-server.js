// An unmodified node:http server for bench:compat's autocannon section: "ok" to every request.
// Prints its port once listening; exits when stdin ends.
import http from "node:http";

const server = http.createServer((_req, res) => res.end("ok"));
server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify(server.address().port)}\n`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
