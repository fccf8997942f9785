import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * What to do with the connection that carries the trapped query:
 * - `before-server`: break it before the server sees the query (nothing happened there);
 * - `after-server`: hand the query to the server, then break the connection before the answer
 *   reaches the client (it happened, but the client cannot know);
 * - `hold`: keep the query until `release()`, so that a test can act meanwhile (for example
 *   terminate the backend with `pg_terminate_backend`).
 */
export type TrapAction = 'before-server' | 'after-server' | 'hold'

interface Trap {
  readonly text: string
  readonly action: TrapAction
  readonly sprung: (release: () => void) => void
}

/**
 * A TCP proxy in front of PostgreSQL that breaks the connection carrying a chosen query, the way a
 * network failure or a server-side kill would. Queries are matched by their text in the client's
 * bytes (the simple query protocol sends it in one message, which loopback delivers in one chunk).
 */
export class CuttingProxy {
  private trap: Trap | undefined
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    /** The port to connect to instead of the server's. */
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `target`. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<CuttingProxy> {
    let proxy: CuttingProxy | undefined
    const server = createServer((client) => proxy?.forward(client, connect(target.port, target.host)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy = new CuttingProxy(server, (server.address() as { port: number }).port)
    return proxy
  }

  /**
   * Arms the proxy for the next client message containing `text`. Resolves once it was caught,
   * with the function that forwards a held message (a no-op for the other actions).
   */
  trapNext(text: string, action: TrapAction): Promise<() => void> {
    return new Promise((sprung) => {
      this.trap = { text, action, sprung }
    })
  }

  /** Stops listening and breaks every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private forward(client: Socket, upstream: Socket): void {
    /** Set once the server was handed a last query: it must read it, even with the client gone. */
    let draining = false
    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('error', () => {}) // a broken connection is the point; the other side sees it close
      socket.on('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        if (!draining) upstream.destroy()
      })
    }
    upstream.on('data', (chunk) => client.write(chunk))
    client.on('data', (chunk: Buffer) => {
      const trap = this.trap
      if (trap === undefined || !chunk.toString('latin1').includes(trap.text)) {
        upstream.write(chunk)
        return
      }
      this.trap = undefined
      switch (trap.action) {
        case 'before-server':
          client.destroy()
          return trap.sprung(() => {})
        case 'after-server':
          // The server reads the query, runs it and answers into a connection the client has left.
          draining = true
          upstream.end(chunk)
          client.destroy()
          return trap.sprung(() => {})
        case 'hold':
          return trap.sprung(() => {
            if (!upstream.destroyed) upstream.write(chunk)
          })
      }
    })
  }
}
