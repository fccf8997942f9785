import { join } from 'node:path'
import { Coordinator, type LogRecord, MemoryNetwork, type Transport } from '../src/index.js'
import { FileLog } from '../src/node.js'
import { BENCH_TIMINGS, startParticipants } from './library/nodes.js'
import { closedLoop, waitUntil } from './measure.js'
import type { RecoveryResult } from './results.js'
import { COORDINATOR_ID, participantIds, payloads } from './workloads.js'

/** A transport that goes nowhere: the node only loads its log and recovers. */
const silent: Transport = { send: () => {}, onMessage: () => {} }

/** The records of finished transaction `i` on a participant: prepared, outcome, end. */
function finishedTransaction(i: number): LogRecord[] {
  const txId = `tx-${i}`
  return [
    {
      type: 'prepared',
      txId,
      coordinator: COORDINATOR_ID,
      participants: participantIds(2),
      payload: { amount: 100, vote: 'yes' },
      onePhase: false,
    },
    { type: 'outcome', txId, decision: 'commit' },
    { type: 'end', txId },
  ]
}

/**
 * Writes a participant's log of exactly `records` records: the incarnation record of its first
 * start, then finished transactions (not compacted).
 */
async function writeParticipantLog(path: string, records: number): Promise<void> {
  const log = new FileLog({ path, compactAfterRecords: Number.POSITIVE_INFINITY })
  await log.load()
  let batch: LogRecord[] = [{ type: 'incarnation', txId: '~inc:1', n: 1, node: 'p0', role: 'participant' }]
  let written = 1
  for (let i = 0; written < records; i++) {
    const next = finishedTransaction(i).slice(0, records - written)
    batch.push(...next)
    written += next.length
    if (batch.length >= 3_000) {
      await log.append(batch)
      batch = []
    }
  }
  await log.append(batch)
  await log.close()
}

function result(name: string, items: number, ms: number): RecoveryResult {
  return { name, items, ms, perSecond: (items * 1000) / ms }
}

/**
 * Loading a participant's FileLog of `records` records: `FileLog.load()` alone, then a whole
 * `Participant.start()` on it (load, validate every record, recover — the time before a restarted
 * node serves again).
 */
export async function measureLoad(directory: string, records: number): Promise<RecoveryResult[]> {
  await writeParticipantLog(join(directory, 'p0.log'), records)
  const log = new FileLog({ path: join(directory, 'p0.log') })
  let started = performance.now()
  await log.load()
  const loadMs = performance.now() - started
  await log.close()
  started = performance.now()
  const group = await startParticipants(['p0'], { log: 'file-group', directory, transport: () => silent })
  const startMs = performance.now() - started
  await group.close()
  return [
    result(`FileLog.load() of ${records} records`, records, loadMs),
    result(`Participant.start() on ${records} records`, records, startMs),
  ]
}

/**
 * Resolving in-doubt transactions after a coordinator restart. `count` transactions are decided
 * (commit, durable in the coordinator's FileLog) but every `commit` message is lost, so both
 * participants (on FileLogs, over MemoryNetwork) hold all of them in doubt. Then the coordinator
 * is closed and a new one starts on its log. Timed from that start until no participant has
 * anything in doubt and the coordinator has nothing in flight.
 */
export async function measureInDoubt(directory: string, count: number): Promise<RecoveryResult> {
  const net = new MemoryNetwork()
  const limits = { maxInFlightTransactions: count * 2 }
  const group = await startParticipants(participantIds(2), {
    log: 'file-group',
    directory,
    transport: (id) => net.connect(id),
    limits,
  })
  const path = join(directory, `${COORDINATOR_ID}.log`)
  const lossy = net.connect(COORDINATOR_ID)
  const crashing = new Coordinator({
    id: COORDINATOR_ID,
    log: new FileLog({ path }),
    transport: {
      send: (message) => (message.type === 'commit' ? undefined : lossy.send(message)),
      onMessage: (handler) => lossy.onMessage(handler),
    },
    ...BENCH_TIMINGS,
    ...limits,
  })
  await crashing.start()
  const decide = async (index: number) => {
    await crashing.commit({ participants: payloads('all-commit', index, 2) })
    const now = performance.now()
    return { decidedAt: now, completedAt: now }
  }
  await closedLoop(decide, {
    concurrency: Math.min(count, 1_000),
    firstIndex: 0,
    durationMs: Number.POSITIVE_INFINITY,
    transactions: count,
  })
  await waitUntil(() => group.participants.every((participant) => participant.stats().inDoubt === count))
  await crashing.close()
  const restarted = new Coordinator({
    id: COORDINATOR_ID,
    log: new FileLog({ path }),
    transport: net.connect(COORDINATOR_ID),
    ...BENCH_TIMINGS,
    ...limits,
  })
  const started = performance.now()
  await restarted.start()
  await waitUntil(
    () =>
      restarted.stats().inFlight === 0 &&
      group.participants.every((participant) => participant.stats().inDoubt === 0),
  )
  const ms = performance.now() - started
  await restarted.close()
  await group.close()
  return result(`resolve ${count} in-doubt transactions after a coordinator restart`, count, ms)
}
