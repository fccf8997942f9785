/**
 * One node of the Postgres money test, run as its own OS process by postgres-money.test.ts:
 * `node --import tsx bank-node.ts <coordinator|bank-a|bank-b> <dir> <incarnation> <seed> [mutant]`.
 * Messages travel over the IPC channel and the parent routes them, as in test/crash. Each node
 * keeps a FileLog in `dir`; each bank's participant has a PostgresResource on its own database.
 * The coordinator runs a seeded stream of random transfers between the two banks.
 */
import { join } from 'node:path'
import { Coordinator, Participant, type Resource, seededRandom } from '../../src/index.js'
import { FileLog } from '../../src/node.js'
import { PostgresResource } from '../../src/postgres.js'
import { ipcTransport } from '../support/ipc-transport.js'
import { ACCOUNTS, MONEY_BANKS } from './money-banks.js'
import { databaseUrl } from './pg-env.js'

const [name, dir, incarnation, seed, mutant] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string?,
]
const parent = ipcTransport()
const { transport } = parent
const log = new FileLog({ path: join(dir, `${name}.log`) })
// Cooperative termination starts after the coordinator's prepare timeout, as it must.
const timings = { retransmitIntervalMs: 20, retransmitIntervalMsMax: 200, prepareTimeoutMs: 1000 }

/**
 * Teeth: a resource that makes its work permanent when it votes yes (as one that skipped
 * PREPARE TRANSACTION would), so an abort can no longer undo it. The test must catch it.
 */
function commitAtPrepare(resource: PostgresResource): Resource {
  return {
    prepare: async (tx) => {
      const vote = await resource.prepare(tx)
      if (vote === 'yes') await resource.commit(tx)
      return vote
    },
    commit: () => {},
    abort: () => {},
  }
}

async function startNode(): Promise<Coordinator | Participant> {
  if (name === 'coordinator') return new Coordinator({ id: name, transport, log, ...timings })
  const bank = MONEY_BANKS[name as keyof typeof MONEY_BANKS]
  const resource = new PostgresResource({
    pool: { connectionString: databaseUrl(bank.database), max: 8 },
    prefix: bank.tables.prefix,
    work: bank.tables.work(100),
  })
  const report = await resource.start(await log.load())
  parent.report({
    kind: 'reconciled',
    rolledBack: report.rolledBack.length,
    leftToProtocol: report.leftToProtocol.length,
  })
  return new Participant({
    id: name,
    transport,
    log,
    resource: mutant === 'commit-at-prepare' ? commitAtPrepare(resource) : resource,
    ...timings,
    cooperativeTerminationAfterMs: 1500,
  })
}

const node = await startNode()
let running = true
parent.on('stop-workload', () => {
  running = false
})
parent.on('status', () => parent.report({ kind: 'status', stats: node.stats() }))
await node.start()
parent.report({ kind: 'started' })

if (node instanceof Coordinator) {
  // Transfers of 1..60 between a random account of each bank, in a random direction, 8 at a time:
  // some overdraw (CHECK), some wait on a row another transfer holds (lock timeout), most commit.
  const random = seededRandom(Number(seed) * 1000 + Number(incarnation))
  const pick = (n: number) => 1 + Math.floor(random() * n)
  let next = 0
  const worker = async () => {
    while (running) {
      const amount = pick(60)
      const sign = random() < 0.5 ? 1 : -1
      const outcome = await node.commit({
        txId: `${incarnation}-${next++}`,
        participants: {
          'bank-a': { account: pick(ACCOUNTS), delta: sign * amount },
          'bank-b': { account: pick(ACCOUNTS), delta: -sign * amount },
        },
      })
      parent.report({ kind: 'decided', txId: outcome.txId, decision: outcome.decision })
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
}
