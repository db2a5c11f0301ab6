import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

/** A server that answers every chunk with `reply` bytes of "x". */
async function startServer(reply: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.on("data", () => socket.write(Buffer.alloc(reply, "x")));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function port(server: Server): number {
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}

async function connect(proxy: TcpProxy): Promise<{ socket: Socket; received: () => number }> {
  const socket = createConnection({ host: proxy.host, port: proxy.port });
  let count = 0;
  socket.on("data", (chunk: Buffer) => (count += chunk.length));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, received: () => count };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("tcp proxy fault modes", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setup(reply: number) {
    const server = await startServer(reply);
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: port(server) });
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanup.push(() => proxy.close());
    const client = await connect(proxy);
    cleanup.push(() => void client.socket.destroy());
    return { proxy, client };
  }

  it("R3: blackhole holds everything back and keeps the connection open; pass delivers what was held", async () => {
    const { proxy, client } = await setup(100);
    proxy.blackhole();
    client.socket.write("ping");
    await wait(200);
    expect(client.received()).toBe(0);
    expect(client.socket.destroyed).toBe(false);
    expect(proxy.openConnections).toBe(1);
    proxy.pass();
    await wait(200);
    expect(client.received()).toBe(100);
  });

  it("R3: a connection opened during a blackhole is accepted but silent", async () => {
    const { proxy } = await setup(10);
    proxy.blackhole();
    const late = await connect(proxy);
    cleanup.push(() => void late.socket.destroy());
    late.socket.write("ping");
    await wait(200);
    expect(late.received()).toBe(0);
    proxy.pass();
    await wait(200);
    expect(late.received()).toBe(10);
  });

  it("R3: trickle delivers the server's bytes a few at a time", async () => {
    const { proxy, client } = await setup(1000);
    proxy.trickle({ bytes: 10, everyMs: 20 });
    client.socket.write("ping");
    await wait(300);
    expect(client.received()).toBeGreaterThan(0);
    expect(client.received()).toBeLessThan(300);
    proxy.pass();
    await wait(100);
    expect(client.received()).toBe(1000);
  });
});
