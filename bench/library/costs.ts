import { MESSAGE_TYPES, type MessageType } from '../../src/core/messages.js'
import type { Message, Transport } from '../../src/index.js'
import { closedLoop } from '../measure.js'
import type { Mix } from '../workloads.js'
import { startLocalCluster } from './local-cluster.js'

/** The exact cost of a workload, counted over a sequential run (one transaction at a time). */
export interface WorkloadCosts {
  readonly transactions: number
  /** Messages sent by every node, by type, in total. */
  readonly messagesByType: Readonly<Record<MessageType, number>>
  readonly messagesPerTx: number
  /** Forced appends of every node per transaction (the protocol's forced writes). */
  readonly forcedWritesPerTx: number
  /** Bytes of message JSON per transaction (transport framing not included). */
  readonly bytesPerTx: number
}

/**
 * Runs `transactions` transactions of `mix` with `n` participants, one at a time, over an
 * in-process network and MemoryLogs, counting every message, its JSON bytes and every forced
 * append. Deterministic: the same arguments always give the same counts. The timed cells read
 * their bytes per transaction from here, so that counting bytes costs them nothing.
 */
export async function measureCosts(n: number, mix: Mix, transactions: number): Promise<WorkloadCosts> {
  const messagesByType = Object.fromEntries(MESSAGE_TYPES.map((type) => [type, 0])) as Record<
    MessageType,
    number
  >
  let bytes = 0
  const count = (transport: Transport): Transport => ({
    send: (message: Message) => {
      messagesByType[message.type] += 1
      bytes += Buffer.byteLength(JSON.stringify(message))
      return transport.send(message)
    },
    onMessage: (handler) => transport.onMessage(handler),
    close: () => transport.close?.(),
  })
  const cluster = await startLocalCluster({ n, mix, log: 'memory', directory: '', wrap: count })
  const before = await cluster.counters()
  bytes = 0
  for (const type of MESSAGE_TYPES) messagesByType[type] = 0
  await closedLoop(cluster.transact, {
    concurrency: 1,
    firstIndex: 0,
    durationMs: Number.POSITIVE_INFINITY,
    transactions,
  })
  await cluster.close()
  const after = await cluster.counters()
  return {
    transactions,
    messagesByType,
    messagesPerTx: (after.messages - before.messages) / transactions,
    forcedWritesPerTx: (after.forcedWrites - before.forcedWrites) / transactions,
    bytesPerTx: bytes / transactions,
  }
}
