/**
 * A relay in front of an SSH agent socket. BuildKit hands a step a socket of its own, with the
 * mount's mode and owner (0600, 0:0 unless the mount says otherwise), not the host agent's: a
 * step running as another user is let in by uid= without opening the host agent to everyone.
 * box binds the host socket as it is unless the mount names mode, uid or gid; then the step gets
 * this relay's socket, served from box's own event loop while the step runs.
 */
import type { Socket, UnixSocketListener } from "bun";

interface End {
  peer?: Socket<End>;
  /** Bytes the other side sent before this end could take them. */
  queue: Uint8Array[];
  /** The other side closed: end this one once its queue is out. */
  closing: boolean;
}

function flush(s: Socket<End>): void {
  const q = s.data.queue;
  while (q.length > 0) {
    const chunk = q[0] as Uint8Array;
    const n = s.write(chunk);
    if (n < chunk.length) {
      q[0] = chunk.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
  if (s.data.closing) s.end();
}

function send(to: Socket<End> | undefined, from: Socket<End>, chunk: Uint8Array): void {
  if (to === undefined) {
    // The agent side is still connecting: keep the bytes on the client's end until it is there.
    from.data.queue.push(chunk.slice());
    return;
  }
  to.data.queue.push(chunk.slice());
  flush(to);
}

function hangUp(s: Socket<End> | undefined): void {
  if (s === undefined) return;
  s.data.closing = true;
  flush(s);
}

export interface AgentProxy {
  stop(): void;
}

/** Listen on `path` and relay each connection to the agent at `agent`. */
export function startAgentProxy(path: string, agent: string): AgentProxy {
  const server: UnixSocketListener<End> = Bun.listen<End>({
    unix: path,
    socket: {
      open(client) {
        client.data = { queue: [], closing: false };
        Bun.connect<End>({
          unix: agent,
          socket: {
            open(up) {
              up.data = { peer: client, queue: client.data.queue.splice(0), closing: false };
              client.data.peer = up;
              flush(up);
              if (client.data.closing) hangUp(up);
            },
            data(up, chunk) {
              send(up.data.peer, up, chunk);
            },
            drain: flush,
            close(up) {
              hangUp(up.data.peer);
            },
            error(up) {
              hangUp(up.data.peer);
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        send(client.data.peer, client, chunk);
      },
      drain: flush,
      close(client) {
        if (client.data.peer === undefined) client.data.closing = true;
        else hangUp(client.data.peer);
      },
      error(client) {
        hangUp(client.data.peer);
      },
    },
  });
  return { stop: () => server.stop(true) };
}
