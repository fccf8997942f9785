import { type AddressInfo, createServer, type Server } from 'node:net'
import type { Json } from '../../src/index.js'
import type { SystemCounters } from '../system.js'
import { participantIds, voteIn } from '../workloads.js'
import { LineSocket } from './line-socket.js'
import type { NaiveMessage } from './naive-tcp-messages.js'

/** The participants of the naive TCP 2PC, in the participants' host. */
export interface NaiveTcpParticipants {
  /** Where each participant listens on 127.0.0.1. */
  readonly ports: Readonly<Record<string, number>>
  counters(): SystemCounters
  close(): Promise<void>
}

/**
 * Starts `n` naive participants, each a TCP server on 127.0.0.1: it votes what the payload says,
 * remembers yes votes in a map, acks commits, forgets aborts. Nothing is durable or validated.
 */
export async function startNaiveTcpParticipants(n: number): Promise<NaiveTcpParticipants> {
  const sockets: LineSocket[] = []
  const servers: Server[] = []
  const ports: Record<string, number> = {}
  for (const id of participantIds(n)) {
    const prepared = new Map<number, Json>()
    const server = createServer((socket) => {
      const link: LineSocket = new LineSocket(socket, (raw) => {
        const message = raw as NaiveMessage
        if (message.type === 'prepare') {
          const vote = voteIn(message.payload)
          if (vote === 'yes') prepared.set(message.txId, message.payload)
          link.send({ type: 'vote', txId: message.txId, vote })
        } else if (message.type === 'commit') {
          prepared.delete(message.txId)
          link.send({ type: 'ack', txId: message.txId })
        } else prepared.delete(message.txId)
      })
      sockets.push(link)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    ports[id] = (server.address() as AddressInfo).port
    servers.push(server)
  }
  return {
    ports,
    counters: () => ({
      messages: sockets.reduce((sum, socket) => sum + socket.messagesSent, 0),
      bytes: sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0),
      forcedWrites: 0,
      fsyncs: undefined,
    }),
    close: async () => {
      for (const socket of sockets) socket.close()
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
    },
  }
}
