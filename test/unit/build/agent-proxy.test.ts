/** The SSH agent relay: real unix sockets, a stand-in agent that answers every byte. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgentProxy } from "../../../core/build/agent-proxy.ts";

const dir = mkdtempSync(join(tmpdir(), "box-agent-proxy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Send `payload` through the relay at `path`; resolve with everything that came back. */
function roundTrip(path: string, payload: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const got: Uint8Array[] = [];
    let sent = 0;
    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          sent = s.write(payload);
        },
        drain(s) {
          if (sent < payload.length) sent += Math.max(s.write(payload.subarray(sent)), 0);
        },
        data(s, chunk) {
          got.push(chunk.slice());
          if (got.reduce((n, c) => n + c.length, 0) >= payload.length) s.end();
        },
        close() {
          resolve(Buffer.concat(got));
        },
        error(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

test("bytes go to the agent and its answers come back, a large message and several clients at once", async () => {
  const agent = join(dir, "agent.sock");
  // An echo agent: answers each byte with the same byte.
  const server = Bun.listen<{ queue: Uint8Array[] }>({
    unix: agent,
    socket: {
      open(s) {
        s.data = { queue: [] };
      },
      data(s, chunk) {
        s.data.queue.push(chunk.slice());
        while (s.data.queue.length > 0) {
          const c = s.data.queue[0] as Uint8Array;
          const n = s.write(c);
          if (n < c.length) {
            s.data.queue[0] = c.subarray(Math.max(n, 0));
            return;
          }
          s.data.queue.shift();
        }
      },
      drain(s) {
        while (s.data.queue.length > 0) {
          const c = s.data.queue[0] as Uint8Array;
          const n = s.write(c);
          if (n < c.length) {
            s.data.queue[0] = c.subarray(Math.max(n, 0));
            return;
          }
          s.data.queue.shift();
        }
      },
    },
  });
  const relay = join(dir, "relay.sock");
  const proxy = startAgentProxy(relay, agent);
  try {
    const small = new TextEncoder().encode("\x00\x00\x00\x01\x0b");
    expect(await roundTrip(relay, small)).toEqual(Buffer.from(small));
    const large = new Uint8Array(4 << 20).map((_, i) => i % 251);
    const [a, b] = await Promise.all([roundTrip(relay, large), roundTrip(relay, small)]);
    expect(a.length).toBe(large.length);
    expect(Buffer.compare(a, Buffer.from(large))).toBe(0);
    expect(b).toEqual(Buffer.from(small));
  } finally {
    proxy.stop();
    server.stop(true);
  }
});

test("a client is hung up on when the agent is gone", async () => {
  const relay = join(dir, "orphan.sock");
  const proxy = startAgentProxy(relay, join(dir, "no-agent.sock"));
  try {
    expect((await roundTrip(relay, new Uint8Array([1, 2, 3]))).length).toBe(0);
  } finally {
    proxy.stop();
  }
});
