/**
 * Real servers and clients over fable-io/net, unchanged: a node:http server fed by a fable Server
 * (its 'connection' path), exercised by node:http requests through an Agent whose createConnection
 * makes fable sockets, by undici through its `connect` option, and a ws WebSocket echo. Every
 * response is checked byte for byte. Over shm and unix.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import { connect, createServer, type Server, type Socket } from "../../src/compat/net.js";

let unique = 0;

function body(n: number, salt: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + salt + (i >> 9)) & 0xff;
  return b;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

for (const scheme of ["shm", "unix"] as const) {
  describe(`node:http, undici and ws over fable-io/net (${scheme})`, () => {
    const uri = `${scheme}://${join(tmpdir(), `fable-net-libs-${process.pid}-${unique++}.sock`)}`;
    let fable: Server;
    let httpServer: http.Server;
    let wss: WebSocketServer;

    before(async () => {
      // The application's own server, unchanged: it echoes the body with its digest.
      httpServer = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const got = Buffer.concat(chunks);
          res.setHeader("x-sha256", sha(got));
          res.setHeader("x-path", req.url ?? "");
          res.end(got);
        });
      });
      wss = new WebSocketServer({ noServer: true });
      wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
      httpServer.on("upgrade", (req, socket, head) => {
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
      });
      fable = createServer((socket) => httpServer.emit("connection", socket));
      await new Promise<void>((resolve) => fable.listen(uri, resolve));
    });

    after(async () => {
      wss.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => fable.close(() => resolve()));
    });

    it("node:http requests through an Agent whose createConnection makes fable sockets (keep-alive)", async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      let made = 0;
      agent.createConnection = (() => {
        made++;
        return connect(uri);
      }) as unknown as typeof agent.createConnection;
      try {
        const request = (
          path: string,
          payload: Buffer,
        ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
          new Promise((resolve, reject) => {
            const req = http.request({ agent, host: "localhost", path, method: "POST" }, (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
              );
              res.on("error", reject);
            });
            req.on("error", reject);
            req.end(payload);
          });
        const sizes = [0, 1, 1000, 100_000, 3 * 1024 * 1024 + 5];
        for (let round = 0; round < 2; round++) {
          const results = await Promise.all(sizes.map((n, i) => request(`/r${round}/${i}`, body(n, i + round))));
          results.forEach((r, i) => {
            const sent = body(sizes[i] ?? 0, i + round);
            assert.equal(r.status, 200);
            assert.equal(r.headers["x-path"], `/r${round}/${i}`);
            assert.equal(r.headers["x-sha256"], sha(sent));
            assert.ok(r.body.equals(sent), `body ${i} of ${sizes[i]} bytes differs`);
          });
        }
        assert.ok(made <= 2, `keep-alive: ${made} sockets for ${2 * sizes.length} requests`);
      } finally {
        agent.destroy();
      }
    });

    it("undici through its connect option", async () => {
      const client = new Client("http://localhost", {
        connect: (_options, callback) => {
          const socket: Socket = connect(uri);
          socket.once("connect", () => callback(null, socket as never));
          socket.once("error", (err) => callback(err, null));
          return socket as never;
        },
      });
      try {
        for (const n of [0, 17, 250_000]) {
          const sent = body(n, n);
          const res = await client.request({ path: `/undici/${n}`, method: "POST", body: sent });
          const got = Buffer.from(await res.body.arrayBuffer());
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers["x-sha256"], sha(sent));
          assert.ok(got.equals(sent), `undici body of ${n} bytes differs`);
        }
      } finally {
        await client.close();
      }
    });

    it("a ws WebSocket echo, text and binary", async () => {
      const ws = new WebSocket("ws://localhost/echo", { createConnection: () => connect(uri) as never });
      try {
        await once(ws, "open");
        const replies: { data: Buffer; binary: boolean }[] = [];
        ws.on("message", (data: Buffer, binary: boolean) => replies.push({ data, binary }));
        const big = body(2 * 1024 * 1024, 5);
        ws.send("hello over fable");
        ws.send(big);
        while (replies.length < 2) await once(ws, "message");
        assert.equal(replies[0]?.binary, false);
        assert.equal(replies[0]?.data.toString(), "hello over fable");
        assert.equal(replies[1]?.binary, true);
        assert.ok(replies[1]?.data.equals(big), "the 2 MiB binary message differs");
        ws.close(1000, "done");
        const [code] = await once(ws, "close");
        assert.equal(code, 1000);
      } finally {
        ws.terminate();
      }
    });
  });
}
