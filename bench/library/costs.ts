import { MESSAGE_TYPES, type MessageType } from '../../src/core/messages.js'
import type { Message, Transport } from '../../src/index.js'
import { closedLoop } from '../measure.js'
import type { Mix } from '../workloads.js'
import { startLocalCluster } from './local-cluster.js'

/**
 * The exact cost of a workload, counted over a sequential run (one transaction at a time) after a
 * warm-up transaction: the steady state, once the coordinator knows every participant's
 * incarnation. The node starts and the warm-up (first contact) are reported on their own.
 */
export interface WorkloadCosts {
  readonly transactions: number
  /** Messages sent by every node, by type, in total. */
  readonly messagesByType: Readonly<Record<MessageType, number>>
  readonly messagesPerTx: number
  /** Forced appends of every node per transaction (the protocol's forced writes). */
  readonly forcedWritesPerTx: number
  /** Bytes of message JSON per transaction (transport framing not included). */
  readonly bytesPerTx: number
  /** Forced appends of the node starts: one incarnation record per node, coordinator included. */
  readonly startForcedWrites: number
  /**
   * The first transaction (transaction 0 of the workload): the coordinator does not know the
   * participants' incarnations yet, so each gets a probe (`prepare` with `inc` 0) it refuses
   * (a `no` vote, no record) before the real prepare.
   */
  readonly firstContact: {
    readonly messagesByType: Readonly<Record<MessageType, number>>
    readonly forcedWrites: number
  }
}

/**
 * Starts a coordinator and `n` participants over an in-process network and MemoryLogs, runs
 * transaction 0 of `mix` (the first contact), then `transactions` more (1 to `transactions`), one
 * at a time, counting every message, its JSON bytes and every forced append of each part.
 * Deterministic: the same arguments always give the same counts. The timed cells read their bytes
 * per transaction from here, so that counting bytes costs them nothing; like them, it leaves the
 * first contact out of the per-transaction figures.
 */
export async function measureCosts(n: number, mix: Mix, transactions: number): Promise<WorkloadCosts> {
  const noMessages = () =>
    Object.fromEntries(MESSAGE_TYPES.map((type) => [type, 0])) as Record<MessageType, number>
  let messagesByType = noMessages()
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
  const started = await cluster.counters()
  messagesByType = noMessages()
  await cluster.transact(0)
  const warm = await cluster.counters()
  const firstContact = { messagesByType, forcedWrites: warm.forcedWrites - started.forcedWrites }
  bytes = 0
  messagesByType = noMessages()
  await closedLoop(cluster.transact, {
    concurrency: 1,
    firstIndex: 1,
    durationMs: Number.POSITIVE_INFINITY,
    transactions,
  })
  await cluster.close()
  const after = await cluster.counters()
  return {
    transactions,
    messagesByType,
    messagesPerTx: (after.messages - warm.messages) / transactions,
    forcedWritesPerTx: (after.forcedWrites - warm.forcedWrites) / transactions,
    bytesPerTx: bytes / transactions,
    startForcedWrites: started.forcedWrites,
    firstContact,
  }
}
