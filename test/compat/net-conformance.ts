/**
 * One conformance suite for net-compatible sockets, run against node:net itself and against
 * fable-io/net (per-implementation files: net-node.test.ts, net-fable.test.ts). Every case is
 * what an application or library relies on, and must pass on node:net first: event order,
 * half-close both ways, errors and their codes, back-pressure and 'drain', destroy during a large
 * write, large writes byte for byte, many connections, pause/resume, setTimeout, ref/unref.
 * Behaviour read in Node's own test/parallel/test-net-*.js; the cases are our own.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import type net from "node:net";
import { describe, it } from "node:test";

/** What the suite needs of an implementation: node:net's module shape, and where to listen. */
export interface NetImplementation {
  readonly name: string;
  readonly net: Pick<typeof net, "createServer" | "connect" | "Socket">;
  /** listen() arguments for a fresh address (a unique path, or port 0). */
  listenArgs(): unknown[];
  /** Waits until a server that listens is ready for clients (transparent mode: registered). */
  readonly listened?: (server: net.Server) => Promise<void>;
  /** connect() options reaching a listening server. */
  connectOptions(server: net.Server): Record<string, unknown>;
  /** A connect() target nobody listens at, and the error code node:net gives for it. */
  refused(): { options: Record<string, unknown>; code: string };
  /** resetAndDestroy() works (node:net: TCP only). */
  readonly reset: boolean;
  /** A module specifier a child process imports for `net` (for the ref/unref cases). */
  readonly childModule: string;
  /** Options a child's net.connect() needs besides the address (JSON). */
  readonly childConnectExtra?: Record<string, unknown>;
  /** How many connections the concurrency case opens at once (default 200). */
  readonly concurrent?: number;
  /** The address fields a socket of this kind reports: true when addresses are IPs and ports. */
  readonly ipAddresses: boolean;
}

type Server = net.Server;

/** How long a reset may take to reach the peer (a generous bound for a loaded machine). */
const RESET_WAIT_MS = 2000;
type Socket = net.Socket;

async function listening(
  impl: NetImplementation,
  options: net.ServerOpts = {},
  onConnection?: (s: Socket) => void,
): Promise<Server> {
  const server = impl.net.createServer(options, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    (server.listen as (...a: unknown[]) => Server)(...impl.listenArgs(), () => {
      server.off("error", reject);
      resolve();
    });
  });
  await impl.listened?.(server);
  return server;
}

function connectTo(impl: NetImplementation, server: Server, extra: Record<string, unknown> = {}): Socket {
  return tracked(impl.net.connect({ ...impl.connectOptions(server), ...extra } as unknown as net.NetConnectOpts));
}

/** Each socket's 'close' (hadError), watched from its creation so no test can miss it. */
const closes = new WeakMap<Socket, Promise<boolean | undefined>>();

function tracked(socket: Socket): Socket {
  // Not events.once(): it would reject on 'error', which several cases expect before 'close'.
  closes.set(socket, new Promise((resolve) => socket.once("close", resolve)));
  return socket;
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  return once(socket, "end").then(() => Buffer.concat(chunks));
}

function closed(socket: Socket): Promise<boolean | undefined> {
  const p = closes.get(socket);
  if (p === undefined) throw new Error("closed() needs a socket made by connectTo() or tracked()");
  return p;
}

function errorOf(socket: Socket): Promise<NodeJS.ErrnoException> {
  return once(socket, "error").then(([err]) => err as NodeJS.ErrnoException);
}

function pattern(n: number, salt: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + salt * 7 + (i >> 11)) & 0xff;
  return b;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Resolves after the event loop has gone round `turns` times (I/O included). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
}

export function netConformance(impl: NetImplementation): void {
  describe(`net conformance: ${impl.name}`, () => {
    // node:net's connect() and a Socket the application makes and connects itself (pg, hand-made agents).
    const makers: [string, (server: Server) => Socket][] = [
      ["connect()", (server) => connectTo(impl, server)],
      [
        "new Socket().connect()",
        (server) =>
          tracked(new impl.net.Socket().connect(impl.connectOptions(server) as unknown as net.SocketConnectOpts)),
      ],
    ];
    for (const [how, make] of makers) {
      it(`${how}: events in order: connect, ready, data, end, close(false); the server sees connection, data, end, close`, async () => {
        const serverEvents: string[] = [];
        const server = await listening(impl, {}, (s) => {
          serverEvents.push("connection");
          s.on("data", (d: Buffer) => serverEvents.push(`data:${d.toString()}`));
          s.on("end", () => serverEvents.push("end"));
          s.on("close", (hadError: boolean) => serverEvents.push(`close:${hadError}`));
          s.end("hello");
        });
        try {
          const events: string[] = [];
          const c = make(server);
          assert.equal(c.connecting, true);
          assert.equal(c.pending, true);
          assert.equal(c.readyState, "opening");
          c.on("connect", () => {
            events.push("connect");
            assert.equal(c.connecting, false);
            assert.equal(c.pending, false);
            assert.equal(c.readyState, "open");
            c.write("ping");
          });
          c.on("ready", () => events.push("ready"));
          c.on("data", (d: Buffer) => events.push(`data:${d.toString()}`));
          c.on("end", () => events.push("end"));
          c.on("finish", () => events.push("finish"));
          const hadError = await closed(c);
          events.push(`close:${hadError}`);
          assert.deepEqual(events, ["connect", "ready", "data:hello", "end", "finish", "close:false"]);
          assert.equal(c.readyState, "closed");
          assert.equal(c.destroyed, true);
          while (serverEvents.length < 4) await turns(1);
          assert.deepEqual(serverEvents, ["connection", "data:ping", "end", "close:false"]);
          assert.equal(c.bytesRead, 5);
          assert.equal(c.bytesWritten, 4);
        } finally {
          await closeServer(server);
        }
      });
    }

    it("paused-mode reading ('readable', then read() until null, as undici reads): every byte, then 'end'", async () => {
      const sent = pattern(300_000, 9);
      const server = await listening(impl, {}, (s) => s.end(sent));
      try {
        const c = connectTo(impl, server);
        const chunks: Buffer[] = [];
        let nulls = 0;
        c.on("readable", () => {
          for (;;) {
            const chunk = c.read() as Buffer | null;
            if (chunk === null) break;
            chunks.push(chunk);
          }
          nulls++;
        });
        await once(c, "end");
        assert.equal(sha(Buffer.concat(chunks)), sha(sent));
        assert.ok(nulls >= 1);
        assert.equal(c.read(), null);
        c.end();
        assert.equal(await closed(c), false);
      } finally {
        await closeServer(server);
      }
    });

    it("cork() holds writes until uncork(); they arrive whole and in order and each callback runs", async () => {
      let got: Promise<Buffer> | undefined;
      const server = await listening(impl, {}, (s) => {
        got = collect(s);
        s.end();
      });
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        const parts = [pattern(10, 1), Buffer.from("text part"), pattern(70_000, 2), pattern(1, 3)];
        const calls: number[] = [];
        c.cork();
        parts.forEach((p, i) => c.write(p, () => calls.push(i)));
        assert.equal(
          c.writableLength,
          parts.reduce((n, p) => n + p.length, 0),
          "held while corked",
        );
        process.nextTick(() => c.uncork());
        c.end();
        while (got === undefined) await turns(1);
        assert.equal(sha(await got), sha(Buffer.concat(parts)));
        assert.deepEqual(calls, [0, 1, 2, 3]);
        await closed(c);
      } finally {
        await closeServer(server);
      }
    });

    for (const [how, make] of makers) {
      it(`${how}: cork() while connecting (node:http's client does): the writes go out once connected, in order`, async () => {
        let got: Promise<Buffer> | undefined;
        const server = await listening(impl, {}, (s) => {
          got = collect(s);
          s.end();
        });
        try {
          const c = make(server);
          assert.equal(c.connecting, true);
          const parts = [Buffer.from("head"), pattern(70_000, 4), pattern(3, 5)];
          const calls: number[] = [];
          c.cork();
          parts.forEach((p, i) => c.write(p, () => calls.push(i)));
          process.nextTick(() => c.uncork());
          c.end();
          c.resume();
          while (got === undefined) await turns(1);
          assert.equal(sha(await got), sha(Buffer.concat(parts)));
          assert.equal(await closed(c), false);
          assert.deepEqual(calls, [0, 1, 2]);
        } finally {
          await closeServer(server);
        }
      });
    }

    it("setNoDelay, setKeepAlive and setTimeout return the socket before and after connect (http chains them)", async () => {
      const server = await listening(impl, {}, (s) => s.end());
      try {
        const c = connectTo(impl, server);
        assert.equal(c.setNoDelay(true), c);
        assert.equal(c.setKeepAlive(true, 1000), c);
        assert.equal(c.setTimeout(0), c);
        await once(c, "connect");
        assert.equal(c.setNoDelay(false), c);
        assert.equal(c.setKeepAlive(false), c);
        assert.equal(c.setTimeout(5000).setTimeout(0), c);
        c.resume();
        c.end();
        assert.equal(await closed(c), false);
      } finally {
        await closeServer(server);
      }
    });

    it("half-close with allowHalfOpen: the side that got 'end' keeps writing, the other keeps reading", async () => {
      const server = await listening(impl, { allowHalfOpen: true }, (s) => {
        const got: Buffer[] = [];
        s.on("data", (d: Buffer) => got.push(d));
        s.on("end", () => {
          assert.equal(s.readyState, "writeOnly");
          // Well after our 'end': still writable.
          setTimeout(() => s.end(`got ${Buffer.concat(got).toString()}`), 5);
        });
      });
      try {
        const c = connectTo(impl, server, { allowHalfOpen: true });
        await once(c, "connect");
        const reply = collect(c);
        c.end("question");
        await once(c, "finish");
        assert.equal(c.readyState, "readOnly");
        assert.equal((await reply).toString(), "got question");
        assert.equal(await closed(c), false);
      } finally {
        await closeServer(server);
      }
    });

    it("half-close without allowHalfOpen: once the peer ended, writing after our end is EPIPE", async () => {
      const failures: (string | undefined)[] = [];
      const server = await listening(impl, {}, (s) => {
        s.resume();
        s.on("error", (e: NodeJS.ErrnoException) => failures.push(`error:${e.code}`));
        s.on("end", () => {
          s.end();
          s.write("late", (e) => failures.push(`callback:${(e as NodeJS.ErrnoException | null)?.code}`));
        });
      });
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        c.resume();
        c.end();
        await once(c, "end");
        assert.equal(await closed(c), false);
        while (failures.length < 2) await turns(1);
        assert.deepEqual(failures.sort(), ["callback:EPIPE", "error:EPIPE"]);
      } finally {
        await closeServer(server);
      }
    });

    it("a refused connect is an error with node:net's code, then close(true)", async () => {
      const { options, code } = impl.refused();
      const c = tracked(impl.net.connect(options as unknown as net.NetConnectOpts));
      const closing = closed(c);
      const err = await errorOf(c);
      assert.equal(err.code, code);
      assert.equal(err.syscall, "connect");
      assert.equal(await closing, true);
      assert.equal(c.connecting, false);
    });

    it("writes and end() made while connecting go out in order once connected", async () => {
      const server = await listening(impl, {}, (s) => s.pipe(s));
      try {
        const c = connectTo(impl, server);
        const back = collect(c);
        assert.equal(c.connecting, true);
        assert.equal(c.write("one,"), true);
        c.write(Buffer.from("two,"));
        c.end("three");
        assert.equal((await back).toString(), "one,two,three");
        assert.equal(await closed(c), false);
      } finally {
        await closeServer(server);
      }
    });

    it("destroy() while connecting: no 'connect', 'close' once, the server stays usable", async () => {
      const server = await listening(impl, {}, (s) => s.resume().on("error", () => {}));
      try {
        const c = connectTo(impl, server);
        let connected = false;
        c.on("connect", () => (connected = true));
        c.destroy();
        await closed(c);
        await turns(10);
        assert.equal(connected, false);
        const d = connectTo(impl, server);
        await once(d, "connect");
        d.end();
        await closed(d);
      } finally {
        await closeServer(server);
      }
    });

    it("write after end is ERR_STREAM_WRITE_AFTER_END, to the callback and as 'error'", async () => {
      const server = await listening(impl, {}, (s) => s.resume());
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        c.end();
        const fromCallback = new Promise<Error | null | undefined>((resolve) => c.write("x", resolve));
        const err = await errorOf(c);
        assert.equal((err as { code?: string }).code, "ERR_STREAM_WRITE_AFTER_END");
        assert.equal(((await fromCallback) as { code?: string }).code, "ERR_STREAM_WRITE_AFTER_END");
      } finally {
        await closeServer(server);
      }
    });

    it("the peer destroyed: 'end', then writing fails with EPIPE (or ECONNRESET)", async () => {
      const server = await listening(impl, {}, (s) => s.destroy());
      try {
        const c = connectTo(impl, server, { allowHalfOpen: true });
        const closing = closed(c);
        c.resume();
        await once(c, "end");
        const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
          c.once("error", resolve);
          const again = (): void => {
            if (!c.destroyed) c.write(Buffer.alloc(1024), () => setImmediate(again));
          };
          again();
        });
        assert.ok(["EPIPE", "ECONNRESET"].includes(err.code ?? ""), `got ${err.code}`);
        assert.equal(await closing, true);
      } finally {
        await closeServer(server);
      }
    });

    // At once, as TCP's RST: well inside RESET_WAIT_MS (a reconfigurable fable connection that took
    // the reset for a failed path would first try to resume for 5 s).
    it("resetAndDestroy: the peer gets ECONNRESET, at once", { skip: !impl.reset }, async () => {
      const server = await listening(impl, {}, (s) => {
        s.resume();
        s.resetAndDestroy();
      });
      try {
        const c = connectTo(impl, server);
        c.resume();
        const started = performance.now();
        const err = await errorOf(c);
        assert.equal(err.code, "ECONNRESET");
        assert.ok(performance.now() - started < RESET_WAIT_MS, `ECONNRESET after ${performance.now() - started} ms`);
        assert.equal(await closed(c), true);
      } finally {
        await closeServer(server);
      }
    });

    it(
      "resetAndDestroy by the client: the server's socket gets ECONNRESET, at once",
      { skip: !impl.reset },
      async () => {
        let serverError: Promise<NodeJS.ErrnoException> | undefined;
        const server = await listening(impl, {}, (s) => {
          s.resume();
          serverError = errorOf(s);
        });
        try {
          const c = connectTo(impl, server);
          await once(c, "connect");
          while (serverError === undefined) await turns(1);
          const started = performance.now();
          c.resetAndDestroy();
          const err = await serverError;
          assert.equal(err.code, "ECONNRESET");
          assert.ok(performance.now() - started < RESET_WAIT_MS, `ECONNRESET after ${performance.now() - started} ms`);
        } finally {
          await closeServer(server);
        }
      },
    );

    it("destroy(err): 'error' then close(true); the peer sees its end", async () => {
      let serverSocket: Socket | undefined;
      const server = await listening(impl, {}, (s) => {
        serverSocket = s;
        s.resume();
      });
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        while (serverSocket === undefined) await turns(1);
        const peerEnd = once(serverSocket, "end");
        const order: string[] = [];
        c.on("error", (e: Error) => order.push(`error:${e.message}`));
        const hadError = closed(c);
        c.destroy(new Error("boom"));
        assert.equal(await hadError, true);
        assert.deepEqual(order, ["error:boom"]);
        await peerEnd;
        const w = await new Promise<Error | null | undefined>((resolve) => c.write("x", resolve));
        assert.equal((w as { code?: string }).code, "ERR_STREAM_DESTROYED");
      } finally {
        await closeServer(server);
      }
    });

    it("back-pressure: write() returns false past the high-water mark, 'drain' follows, every byte arrives", async () => {
      let serverSocket: Socket | undefined;
      const server = await listening(impl, {}, (s) => {
        serverSocket = s;
        s.pause();
      });
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        while (serverSocket === undefined) await turns(1);
        const chunk = pattern(64 * 1024, 3);
        let written = 0;
        // The peer does not read: kernel (or ring) buffers fill, then ours.
        while (c.write(chunk)) {
          written += chunk.length;
          if (written > 256 * 1024 * 1024) assert.fail("write() never returned false");
          if (written % (16 * chunk.length) === 0) await turns(1);
        }
        written += chunk.length;
        assert.ok(c.writableLength >= c.writableHighWaterMark);
        const drained = once(c, "drain");
        const s = serverSocket;
        let received = 0;
        const hash = createHash("sha256");
        s.on("data", (d: Buffer) => {
          received += d.length;
          hash.update(d);
        });
        s.resume();
        await drained;
        c.end();
        await once(s, "end");
        assert.equal(received, written);
        const expect = createHash("sha256");
        for (let n = 0; n < written; n += chunk.length) expect.update(chunk);
        assert.equal(hash.digest("hex"), expect.digest("hex"));
      } finally {
        await closeServer(server);
      }
    });

    it("destroy during a large write: the writer gets EPIPE or ECONNRESET and closes, nothing hangs", async () => {
      const server = await listening(impl, {}, (s) => {
        s.once("data", () => s.destroy());
      });
      try {
        const c = connectTo(impl, server);
        c.resume();
        const err = errorOf(c);
        c.write(pattern(16 * 1024 * 1024, 9));
        assert.ok(["EPIPE", "ECONNRESET"].includes((await err).code ?? ""), `got ${(await err).code}`);
        assert.equal(await closed(c), true);
      } finally {
        await closeServer(server);
      }
    });

    it("large writes, several MiB each way, arrive byte for byte", async () => {
      const server = await listening(impl, {}, (s) => s.pipe(s));
      try {
        const c = connectTo(impl, server);
        const back = collect(c);
        const parts = [pattern(5 * 1024 * 1024 + 17, 1), pattern(1, 2), pattern(3 * 1024 * 1024, 3)];
        for (const p of parts) c.write(p);
        c.end();
        const got = await back;
        const sent = Buffer.concat(parts);
        assert.equal(got.length, sent.length);
        assert.equal(sha(got), sha(sent));
        assert.equal(c.bytesWritten, sent.length);
        assert.equal(c.bytesRead, sent.length);
      } finally {
        await closeServer(server);
      }
    });

    it(`${impl.concurrent ?? 200} concurrent connections each get their own bytes back`, async () => {
      const server = await listening(impl, {}, (s) => s.pipe(s));
      try {
        const n = impl.concurrent ?? 200;
        const results = await Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const c = connectTo(impl, server);
            const back = collect(c);
            c.end(`connection ${i} `.repeat(1 + (i % 7)));
            const got = (await back).toString();
            await closed(c);
            return got === `connection ${i} `.repeat(1 + (i % 7));
          }),
        );
        assert.equal(results.filter(Boolean).length, n);
        const count = await new Promise<number>((resolve, reject) =>
          server.getConnections((err, c) => (err ? reject(err) : resolve(c))),
        );
        assert.ok(count >= 0 && count <= n);
      } finally {
        await closeServer(server);
      }
    });

    it("pause() stops 'data' until resume(); nothing is lost", async () => {
      let serverSocket: Socket | undefined;
      const server = await listening(impl, {}, (s) => {
        serverSocket = s;
        s.write("first");
      });
      try {
        const c = connectTo(impl, server);
        const seen: string[] = [];
        c.on("data", (d: Buffer) => {
          seen.push(d.toString());
          if (seen.length === 1) c.pause();
        });
        while (seen.length === 0) await turns(1);
        assert.equal(c.isPaused(), true);
        const s = serverSocket as Socket;
        s.end("second");
        await turns(20);
        assert.deepEqual(seen, ["first"]);
        const ended = once(c, "end");
        c.resume();
        await ended;
        assert.deepEqual(seen.join(""), "firstsecond");
      } finally {
        await closeServer(server);
      }
    });

    it("setTimeout: 'timeout' after idleness, the socket stays open; setTimeout(0) turns it off", async () => {
      const server = await listening(impl, {}, (s) => s.pipe(s));
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        let fired = 0;
        c.setTimeout(30, () => fired++);
        await once(c, "timeout");
        assert.equal(fired, 1);
        assert.equal(c.destroyed, false);
        c.write("still open");
        assert.equal(String((await once(c, "data"))[0]), "still open");
        assert.equal(c.setTimeout(0), c);
        assert.equal(c.setNoDelay(true), c);
        assert.equal(c.setKeepAlive(true, 1000), c);
        c.end();
        await closed(c);
      } finally {
        await closeServer(server);
      }
    });

    it("connect with an aborted signal: AbortError, then 'close' (with no hadError: no handle was opened)", async () => {
      const server = await listening(impl);
      try {
        const controller = new AbortController();
        controller.abort();
        const c = connectTo(impl, server, { signal: controller.signal });
        const err = await errorOf(c);
        assert.equal(err.name, "AbortError");
        assert.equal(await closed(c), undefined);
      } finally {
        await closeServer(server);
      }
    });

    it("listen with a signal: aborting closes the server", async () => {
      const controller = new AbortController();
      const server = impl.net.createServer();
      (server.listen as (...a: unknown[]) => Server)({ ...listenOptions(impl), signal: controller.signal });
      await once(server, "listening");
      assert.equal(server.listening, true);
      const closing = once(server, "close");
      controller.abort();
      await closing;
      assert.equal(server.listening, false);
    });

    it("server: listen callback, address(), close() waits for connections, ERR_SERVER_NOT_RUNNING", async () => {
      const server = await listening(impl, {}, (s) => s.resume());
      const address = server.address();
      if (impl.ipAddresses) assert.equal(typeof (address as net.AddressInfo).port, "number");
      else assert.equal(typeof address, "string");
      const c = connectTo(impl, server);
      await once(c, "connect");
      if (impl.ipAddresses) {
        assert.equal(typeof c.remotePort, "number");
        assert.equal(typeof c.remoteAddress, "string");
        assert.equal(c.remoteFamily, "IPv4");
        assert.equal(typeof c.localPort, "number");
        assert.deepEqual(Object.keys(c.address()).sort(), ["address", "family", "port"]);
      } else {
        assert.equal(c.remoteAddress, undefined);
        assert.equal(c.remotePort, undefined);
      }
      let closedYet = false;
      const done = new Promise<void>((resolve) =>
        server.close(() => {
          closedYet = true;
          resolve();
        }),
      );
      assert.equal(server.listening, false);
      await turns(5);
      assert.equal(closedYet, false, "close() must wait for the open connection");
      c.end();
      await done;
      const err = await new Promise<Error | undefined>((resolve) => server.close(resolve));
      assert.equal((err as { code?: string } | undefined)?.code, "ERR_SERVER_NOT_RUNNING");
    });

    it("listening twice throws ERR_SERVER_ALREADY_LISTEN", async () => {
      const server = await listening(impl);
      try {
        assert.throws(() => (server.listen as (...a: unknown[]) => Server)(...impl.listenArgs()), {
          code: "ERR_SERVER_ALREADY_LISTEN",
        });
      } finally {
        await closeServer(server);
      }
    });

    it("destroySoon: ends, then destroys once written", async () => {
      const server = await listening(impl, {}, (s) => s.resume());
      try {
        const c = connectTo(impl, server);
        await once(c, "connect");
        c.write("bye");
        (c as Socket & { destroySoon(): void }).destroySoon();
        assert.equal(c.writableEnded, true);
        await closed(c);
        assert.equal(c.destroyed, true);
      } finally {
        await closeServer(server);
      }
    });

    it("unref: a connected client socket and a listening server no longer keep a process alive; ref does", async () => {
      // The child exits without closing its socket: the peer sees an orderly end, no reset.
      const peerErrors: string[] = [];
      const peerEnds: Promise<unknown>[] = [];
      const server = await listening(impl, {}, (s) => {
        s.resume().on("error", (e: NodeJS.ErrnoException) => peerErrors.push(e.code ?? e.message));
        peerEnds.push(new Promise((resolve) => s.once("close", resolve)));
      });
      try {
        const options = { ...impl.connectOptions(server), ...impl.childConnectExtra };
        const run = (ref: boolean): Promise<{ code: number | null; timedOut: boolean }> => {
          const script = `
            const net = await import(${JSON.stringify(impl.childModule)});
            const c = net.connect(${JSON.stringify(options)}, () => {
              c.unref();
              ${ref ? "c.ref(); setTimeout(() => { console.log('alive'); c.destroy(); }, 300);" : ""}
              const s = net.createServer();
              s.listen(...${JSON.stringify(impl.listenArgs())}, () => s.unref());
            });`;
          const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
            stdio: ["ignore", "pipe", "inherit"],
          });
          let out = "";
          child.stdout.on("data", (d: Buffer) => (out += d.toString()));
          return new Promise((resolve) => {
            const timer = setTimeout(() => {
              child.kill("SIGKILL");
              resolve({ code: null, timedOut: true });
            }, 20_000);
            child.on("exit", (code) => {
              clearTimeout(timer);
              if (ref) assert.equal(out.trim(), "alive");
              resolve({ code, timedOut: false });
            });
          });
        };
        assert.deepEqual(await run(false), { code: 0, timedOut: false });
        assert.deepEqual(await run(true), { code: 0, timedOut: false });
        await Promise.all(peerEnds);
        assert.deepEqual(peerErrors, []);
      } finally {
        await closeServer(server);
      }
    });
  });
}

/** listenArgs() as one options object (for listen({ ..., signal })). */
function listenOptions(impl: NetImplementation): Record<string, unknown> {
  const [first] = impl.listenArgs();
  if (typeof first === "number") return { port: first, host: "127.0.0.1" };
  if (typeof first === "string") return { path: first };
  return first as Record<string, unknown>;
}
