import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import type { ParticipantsHost } from '../child/client.js'
import { closedLoop } from '../measure.js'
import type { MicroResult } from '../results.js'

/** Bytes of a ping: about one small protocol message. */
const PING = Buffer.alloc(200, 0x61)

/** An echo server for the ping-pong, in the participants' host. */
export async function startEchoServer(): Promise<{ readonly port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Raw loopback TCP ping-pong to the participants' host: 200 bytes out, the same 200 back, one at a time. */
export async function rawTcpPingPong(host: ParticipantsHost, durationMs: number): Promise<MicroResult> {
  const { port } = await host.call({ type: 'echo-server' })
  const socket = connect({ host: '127.0.0.1', port })
  socket.setNoDelay(true)
  await new Promise((resolve) => socket.once('connect', resolve))
  let expected = 0
  let pong: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    expected -= chunk.length
    if (expected === 0) pong?.()
  })
  const loop = await closedLoop(
    () =>
      new Promise((resolve) => {
        expected = PING.length
        pong = () => {
          const now = performance.now()
          resolve({ decidedAt: now, completedAt: now })
        }
        socket.write(PING)
      }),
    { concurrency: 1, firstIndex: 0, durationMs },
  )
  socket.destroy()
  await host.call({ type: 'stop' })
  return {
    name: 'raw TCP ping-pong',
    operation: 'round trip of 200 B',
    opsPerSecond: (loop.transactions * 1000) / loop.elapsedMs,
    latencyMs: loop.decision,
    detail: {},
  }
}
