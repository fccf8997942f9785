import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ParticipantsHost } from '../child/client.js'
import { closedLoop } from '../measure.js'
import type { MicroResult } from '../results.js'

/** A body the size of one small protocol message. */
const BODY = Buffer.from(JSON.stringify([{ padding: 'a'.repeat(180) }]))

/** An HTTP server that reads each request and answers 204, in the participants' host. */
export async function startNoContentServer(): Promise<{ readonly port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(204).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Raw HTTP POSTs over keep-alive (`node:http`, one connection per request in flight) to the participants' host. */
export async function rawHttpRate(
  host: ParticipantsHost,
  concurrency: number,
  durationMs: number,
): Promise<MicroResult> {
  const { port } = await host.call({ type: 'http-server' })
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const post = () =>
    new Promise<{ decidedAt: number; completedAt: number }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/',
          agent,
          headers: { 'content-length': BODY.length },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            const now = performance.now()
            resolve({ decidedAt: now, completedAt: now })
          })
        },
      )
      req.on('error', reject)
      req.end(BODY)
    })
  const loop = await closedLoop(post, { concurrency, firstIndex: 0, durationMs })
  agent.destroy()
  await host.call({ type: 'stop' })
  return {
    name: `raw HTTP keep-alive, ${concurrency} in flight`,
    operation: 'POST of 200 B → 204',
    opsPerSecond: (loop.transactions * 1000) / loop.elapsedMs,
    latencyMs: loop.decision,
    detail: {},
  }
}
