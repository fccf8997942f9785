import { join } from 'node:path'
import { Pool } from 'pg'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'
import { seededRandom } from '../../src/index.js'
import { type ChildReport, ProcessCluster } from '../support/process-cluster.js'
import { preparedGids } from './bank.js'
import { ACCOUNTS, MONEY_BANKS, OPENING_BALANCE } from './money-banks.js'
import { databaseUrl, describeWithPostgres } from './pg-env.js'

const ROUNDS = Number(process.env.TWOPC_PG_KILL_ROUNDS ?? 6)
const SEED = Number(process.env.TWOPC_PG_KILL_SEED ?? 20261126)
const NODES = ['coordinator', 'bank-a', 'bank-b'] as const
type NodeName = (typeof NODES)[number]
const BANKS = ['bank-a', 'bank-b'] as const

/** The three nodes as bank-node.ts child processes with FileLogs; the parent routes their messages over IPC. */
class BankCluster extends ProcessCluster<NodeName> {
  /** Outcomes the coordinator reported as final. */
  readonly decided = new Map<string, string>()
  /** Orphans the restarted banks' `start()` rolled back, in total. */
  orphansRolledBack = 0

  /** @param mutant - a deliberately broken resource for the banks to use (see bank-node.ts), to show the checks can fail */
  constructor(mutant = '') {
    super({
      script: join(import.meta.dirname, 'bank-node.ts'),
      dirPrefix: 'twopc-pg-money-',
      args: (name, dir, incarnation) => [name, dir, String(incarnation), String(SEED), mutant],
    })
  }

  stopWorkload(): void {
    this.send('coordinator', { kind: 'stop-workload' })
  }

  protected override onReport(_name: NodeName, report: ChildReport): void {
    if (report.kind === 'decided') this.decided.set(report.txId as string, report.decision as string)
    else if (report.kind === 'reconciled') this.orphansRolledBack += report.rolledBack as number
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Reads both databases back: every transfer share (txId → delta), the totals, the gids left prepared. */
async function readBanks(admins: ReadonlyMap<string, Pool>) {
  return Promise.all(
    BANKS.map(async (bank) => {
      const pool = admins.get(bank) as Pool
      const { tables } = MONEY_BANKS[bank]
      return {
        transfers: await tables.transfers(pool),
        total: await tables.total(pool),
        prepared: await preparedGids(pool, tables.prefix),
      }
    }),
  ) as Promise<[BankState, BankState]>
}
type BankState = { transfers: Map<string, number>; total: number; prepared: string[] }

/**
 * Runs the transfer stream, kills and restarts nodes for `rounds` rounds, lets the stream run
 * `workloadMs` more, lets everything finish, and returns every violation of the money invariant
 * it finds, with a summary.
 */
async function runMoneyRounds(
  cluster: BankCluster,
  admins: ReadonlyMap<string, Pool>,
  rounds: number,
  workloadMs = 0,
) {
  const random = seededRandom(SEED)
  for (const name of NODES) await cluster.start(name)
  const kills: string[] = []
  for (let round = 0; round < rounds; round++) {
    // Alternate: the coordinator, then a random bank, each killed at a random moment.
    const victim: NodeName = round % 2 === 0 ? 'coordinator' : random() < 0.5 ? 'bank-a' : 'bank-b'
    await sleep(100 + Math.floor(random() * 400))
    await cluster.kill(victim)
    kills.push(victim)
    await sleep(Math.floor(random() * 100))
    await cluster.start(victim)
  }
  await sleep(workloadMs)
  cluster.stopWorkload()

  // Liveness: with every node up and no more faults, everything in flight finishes.
  const violations: string[] = []
  const deadline = Date.now() + 20_000
  let settled = false
  while (!settled && Date.now() < deadline) {
    const stats = await Promise.all(NODES.map((name) => cluster.status(name)))
    settled = stats.every((s) => s.inFlight === 0 && s.inDoubt === 0)
    if (!settled) await sleep(200)
  }
  if (!settled) violations.push('L1: transactions still in flight 20 s after the last fault')

  const [a, b] = await readBanks(admins)
  if (a.total + b.total !== 2 * ACCOUNTS * OPENING_BALANCE)
    violations.push(`money: the banks hold ${a.total} + ${b.total}, not ${2 * ACCOUNTS * OPENING_BALANCE}`)
  for (const gid of [...a.prepared, ...b.prepared]) violations.push(`leftover: ${gid} is still prepared`)
  for (const txId of new Set([...a.transfers.keys(), ...b.transfers.keys()])) {
    const [inA, inB] = [a.transfers.get(txId), b.transfers.get(txId)]
    // Each share is recorded with its delta: the two must exist together and cancel out.
    if (inA === undefined || inB === undefined || inA !== -inB)
      violations.push(
        `atomicity: transfer ${txId} is ${inA ?? 'missing'} in bank-a, ${inB ?? 'missing'} in bank-b`,
      )
  }
  let committed = 0
  for (const [txId, decision] of cluster.decided) {
    if (decision === 'commit') committed += 1
    if ((decision === 'commit') !== a.transfers.has(txId))
      violations.push(
        `durability: ${txId} was decided ${decision} but ${a.transfers.has(txId) ? 'is' : 'is not'} in the databases`,
      )
  }
  const summary =
    `${rounds} rounds (seed ${SEED}), kills ${kills.join(',') || 'none'}; ${cluster.decided.size} decisions reported ` +
    `(${committed} commit), ${a.transfers.size} transfers in the databases, ${cluster.orphansRolledBack} orphans rolled back at restart`
  return { violations, summary, committed, aborted: cluster.decided.size - committed }
}

describeWithPostgres('the money invariant across two PostgreSQL databases, with SIGKILLs', () => {
  const admins = new Map<string, Pool>()
  const clusters: BankCluster[] = []

  beforeAll(() => {
    for (const bank of BANKS) {
      admins.set(bank, new Pool({ connectionString: databaseUrl(MONEY_BANKS[bank].database), max: 2 }))
    }
  })
  beforeEach(async () => {
    for (const bank of BANKS)
      await MONEY_BANKS[bank].tables.reset(admins.get(bank) as Pool, ACCOUNTS, OPENING_BALANCE)
  })
  afterAll(async () => {
    for (const cluster of clusters) await cluster.stopAll()
    await Promise.all([...admins.values()].map((pool) => pool.end()))
  })

  it(`keeps every transfer in both databases or in neither through ${ROUNDS} kill rounds (seed ${SEED})`, async () => {
    const cluster = new BankCluster()
    clusters.push(cluster)
    const { violations, summary, committed, aborted } = await runMoneyRounds(cluster, admins, ROUNDS)
    console.log(`Postgres money: ${summary}`)
    expect(violations).toEqual([])
    expect(committed).toBeGreaterThan(0)
    expect(aborted).toBeGreaterThan(0)
  }, 60_000)

  it('catches a resource that commits its work at prepare instead of preparing it', async () => {
    const cluster = new BankCluster('commit-at-prepare')
    clusters.push(cluster)
    const { violations, summary } = await runMoneyRounds(cluster, admins, 0, 1500)
    console.log(
      `Postgres money with the commit-at-prepare mutant: ${summary}; ${violations.length} violations, first: ${violations[0]}`,
    )
    expect(violations.some((violation) => violation.startsWith('atomicity:'))).toBe(true)
  }, 60_000)
})
