import { connect } from 'node:net'
import type { ParticipantsHost } from '../child/client.js'
import type { System } from '../system.js'
import { type Mix, participantIds, payloads } from '../workloads.js'
import { LineSocket } from './line-socket.js'
import type { NaiveMessage } from './naive-tcp-messages.js'

/** A transaction waiting for votes or acks. */
interface Waiting {
  remaining: number
  readonly yes: number[]
  no: boolean
  done(): void
}

/**
 * The naive 2PC over TCP, written for the benchmark: the coordinator here, `n` naive participants
 * in the participants' host, one connection per participant, newline-delimited JSON with frame
 * coalescing ({@link LineSocket}). Presumed abort, no durability, no validation, no timers.
 */
export async function startNaiveTcp2pc(
  spec: { readonly n: number; readonly mix: Mix },
  host: ParticipantsHost,
): Promise<System> {
  const { ports } = await host.call({ type: 'naive-tcp-participants', n: spec.n })
  const waiting = new Map<number, Waiting>()
  const ids = participantIds(spec.n)
  const links = await Promise.all(
    ids.map(
      (id, i) =>
        new Promise<LineSocket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: ports[id] as number })
          socket.once('error', reject)
          socket.once('connect', () =>
            resolve(
              new LineSocket(socket, (raw) => {
                const message = raw as NaiveMessage
                const tx = waiting.get(message.txId)
                if (tx === undefined) return
                if (message.type === 'vote') {
                  if (message.vote === 'yes') tx.yes.push(i)
                  if (message.vote === 'no') tx.no = true
                }
                if (--tx.remaining === 0) tx.done()
              }),
            ),
          )
        }),
    ),
  )
  const collect = (txId: number, remaining: number) =>
    new Promise<Waiting>((resolve) => {
      const tx: Waiting = { remaining, yes: [], no: false, done: () => resolve(tx) }
      waiting.set(txId, tx)
    })
  const transact = async (txId: number) => {
    const shares = payloads(spec.mix, txId, spec.n)
    const voted = collect(txId, spec.n)
    for (const [i, link] of links.entries())
      link.send({ type: 'prepare', txId, payload: shares[ids[i] as string] ?? null })
    const { yes, no } = await voted
    const decidedAt = performance.now()
    waiting.delete(txId)
    if (no) for (const i of yes) links[i]?.send({ type: 'abort', txId })
    if (no || yes.length === 0) return { decidedAt, completedAt: decidedAt }
    const acked = collect(txId, yes.length)
    for (const i of yes) links[i]?.send({ type: 'commit', txId })
    await acked
    waiting.delete(txId)
    return { decidedAt, completedAt: performance.now() }
  }
  return {
    transact,
    counters: async () => {
      const remote = await host.call({ type: 'counters' })
      return {
        messages: remote.messages + links.reduce((sum, link) => sum + link.messagesSent, 0),
        bytes: (remote.bytes ?? 0) + links.reduce((sum, link) => sum + link.bytesWritten, 0),
        forcedWrites: 0,
        fsyncs: undefined,
      }
    },
    remote: host.usage(),
    close: async () => {
      for (const link of links) link.close()
      await host.call({ type: 'stop' })
    },
  }
}
