/**
 * The scenario of test/transports/rendezvous.test.ts, run in its own process (a leftover fd watcher
 * can leave libuv spinning, so the test bounds it from outside). Prints one line: "ok", or why not.
 * Run as `node rendezvous-fd-reuse.js <dir>`.
 */
import { createServer, connect, type Socket } from "node:net";
import { join } from "node:path";
import { connectRendezvous, RendezvousListener, socketFd } from "../../src/transports/rendezvous.js";

const dir = process.argv[2] ?? ".";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const listener = await RendezvousListener.listen(join(dir, "r.sock"));
const accepted: Socket[] = [];
const server = createServer((s) => accepted.push(s));
const plainPath = join(dir, "plain.sock");
await new Promise<void>((resolve) => server.listen(plainPath, resolve));
const cleanups: (() => void)[] = [];
let result = "no new socket reused a destroyed connection's fd in 5 tries";
try {
  // The kernel gives the lowest free fd number: the next socket almost always reuses it.
  for (let attempt = 0; attempt < 5; attempt++) {
    const [conn, theirs] = await Promise.all([connectRendezvous(listener.path, { timeoutMs: 300 }), listener.accept()]);
    cleanups.push(() => theirs.destroy());
    const fd = socketFd(conn.socket);
    const receiving = conn.receive().then(
      () => "received",
      (err: unknown) => (err as { code?: string }).code,
    );
    await sleep(20); // receive() is waiting on its watcher now (the peer sends nothing)
    conn.destroy();
    const client = connect(plainPath);
    cleanups.push(() => client.destroy());
    await new Promise((resolve) => client.once("connect", resolve));
    const code = await receiving;
    await sleep(400); // past the receive()'s own 300 ms limit: a leftover watcher would have acted by now
    const got = new Promise<string>((resolve) => client.once("data", (d: Buffer) => resolve(d.toString())));
    while (accepted.length === 0) await sleep(5);
    (accepted.pop() as Socket).write("ping");
    const answer = await Promise.race([got, sleep(3000).then(() => "nothing in 3 s")]);
    if (socketFd(client) !== fd) continue; // not the same fd number: this round shows nothing
    result =
      code !== "EPEER"
        ? `receive() ended with ${code}, not EPEER`
        : answer === "ping"
          ? "ok"
          : `the socket on fd ${fd} (the destroyed connection's) read ${answer}`;
    break;
  }
} finally {
  for (const c of cleanups) c();
  for (const s of accepted) s.destroy();
  server.close();
  await listener.close();
}
process.stdout.write(`${result}\n`);
