/**
 * One node of the kill -9 test, run as its own OS process by test/crash/kill9.test.ts:
 * `node --import tsx crash-node.ts <coordinator|participant> <id> <dir> <incarnation>`.
 * Messages travel over the IPC channel to the parent, which routes them (a real transport between
 * processes that the parent can cut by killing a child). Each node keeps a real FileLog in `dir`.
 */
import { appendFileSync, closeSync, fsyncSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { Coordinator, type DurableLog, Participant, type Resource } from '../../src/index.js'
import { FileLog } from '../../src/node.js'
import { ipcTransport } from '../support/ipc-transport.js'

const [role, id, dir, incarnation] = process.argv.slice(2) as [string, string, string, string]
const parent = ipcTransport()
const { transport } = parent
const fileLog = new FileLog({ path: join(dir, `${id}.log`) })
/**
 * Teeth: with TWOPC_CRASH_MUTANT=early-ack the log acknowledges appends 30 ms before writing them,
 * as a log that skipped its fsync would; the test shows its checks catch that.
 */
const log: DurableLog =
  process.env.TWOPC_CRASH_MUTANT === 'early-ack'
    ? {
        load: () => fileLog.load(),
        forget: (txIds) => fileLog.forget(txIds),
        append: async (records) => {
          setTimeout(() => fileLog.append(records).catch(() => {}), 30)
        },
      }
    : fileLog
const timings = { retransmitIntervalMs: 20, retransmitIntervalMsMax: 200, prepareTimeoutMs: 500 }

/** A resource whose applied outcomes are themselves durable: one fsynced line per apply. */
function durableResource(): Resource {
  const file = join(dir, `${id}.applied`)
  const record = (txId: string, decision: string) => {
    appendFileSync(file, `${JSON.stringify({ txId, decision })}\n`)
    const fd = openSync(file, 'r')
    fsyncSync(fd)
    closeSync(fd)
  }
  return {
    // p3 refuses every seventh transfer, so the stream has aborts too.
    prepare: (tx) => (id === 'p3' && (tx.payload as number) % 7 === 0 ? 'no' : 'yes'),
    commit: (tx) => record(tx.txId, 'commit'),
    abort: (tx) => record(tx.txId, 'abort'),
  }
}

const node =
  role === 'coordinator'
    ? new Coordinator({ id, transport, log, ...timings })
    : new Participant({ id, transport, log, resource: durableResource(), ...timings })

let running = true
parent.on('stop-workload', () => {
  running = false
})
parent.on('status', () => parent.report({ kind: 'status', id, stats: node.stats() }))

await node.start()
parent.report({ kind: 'started', id })

if (node instanceof Coordinator) {
  // A stream of transfers, 16 in flight; each decision is reported once it is final.
  let next = 0
  const worker = async () => {
    while (running) {
      const i = next++
      const outcome = await node.commit({
        txId: `${incarnation}-${i}`,
        participants: { p1: i, p2: i, p3: i },
      })
      parent.report({ kind: 'decided', txId: outcome.txId, decision: outcome.decision })
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}
