import { Pool } from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import {
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  Participant,
  type ResourceErrorEvent,
} from '../../src/index.js'
import { PostgresResource } from '../../src/postgres.js'
import { BankTables, preparedGids } from './bank.js'
import { BANK_A, BANK_B, databaseUrl, describeWithPostgres } from './pg-env.js'

const TIMINGS = { retransmitIntervalMs: 10, retransmitIntervalMsMax: 100, prepareTimeoutMs: 3000 }

/** One bank: a database, its tables, and a participant whose PostgresResource works on them. */
interface Bank {
  readonly id: 'bank-a' | 'bank-b'
  readonly database: string
  readonly admin: Pool
  readonly tables: BankTables
  readonly log: MemoryLog
  participant: Participant
  resource: PostgresResource
}

describeWithPostgres('transfers between two PostgreSQL databases through twopc', () => {
  const banks = [
    { id: 'bank-a', database: BANK_A, tables: new BankTables('xfer', 'xfer-a') },
    { id: 'bank-b', database: BANK_B, tables: new BankTables('xfer', 'xfer-b') },
  ] as const
  const admins = new Map<string, Pool>()
  let net: MemoryNetwork
  let coordinator: Coordinator
  let nodes: Bank[]

  /** Starts a bank's resource (reconciling with its log) and then its participant, in that order. */
  async function startBank(bank: Omit<Bank, 'participant' | 'resource'>) {
    const resource = new PostgresResource({
      pool: { connectionString: databaseUrl(bank.database) },
      prefix: bank.tables.prefix,
      work: bank.tables.work(),
    })
    const report = await resource.start(await bank.log.load())
    const participant = new Participant({
      id: bank.id,
      transport: net.connect(bank.id),
      log: bank.log,
      resource,
      ...TIMINGS,
    })
    await participant.start()
    return { bank: { ...bank, participant, resource }, report }
  }

  const admin = (id: string): Pool => admins.get(id) as Pool
  /** Waits until neither database holds a prepared transaction of these banks. */
  const settled = () =>
    expect
      .poll(async () => [
        ...(await preparedGids(admin('bank-a'), 'xfer-a')),
        ...(await preparedGids(admin('bank-b'), 'xfer-b')),
      ])
      .toEqual([])

  beforeAll(() => {
    for (const bank of banks)
      admins.set(bank.id, new Pool({ connectionString: databaseUrl(bank.database), max: 2 }))
  })
  afterAll(() => Promise.all([...admins.values()].map((pool) => pool.end())))

  beforeEach(async () => {
    net = new MemoryNetwork({ seed: 6 })
    coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      ...TIMINGS,
    })
    await coordinator.start()
    nodes = []
    for (const bank of banks) {
      await bank.tables.reset(admin(bank.id), 2, 100)
      const { bank: node } = await startBank({ ...bank, admin: admin(bank.id), log: new MemoryLog() })
      nodes.push(node)
    }
  })
  afterEach(async () => {
    await coordinator.close()
    for (const node of nodes) {
      await node.participant.close()
      await node.resource.close()
    }
  })

  const transfer = (amount: number) => ({
    participants: { 'bank-a': { account: 1, delta: -amount }, 'bank-b': { account: 1, delta: amount } },
  })
  const balances = () => Promise.all(nodes.map((node) => node.tables.balance(node.admin, 1)))

  it('commits a transfer in both databases and leaves nothing prepared', async () => {
    const outcome = await coordinator.commit(transfer(30))
    expect(outcome.decision).toBe('commit')
    await settled()
    expect(await balances()).toEqual([70, 130])
    for (const node of nodes)
      expect([...(await node.tables.transfers(node.admin)).keys()]).toEqual([outcome.txId])
  })

  it('aborts a transfer that would overdraw at prepare (CHECK balance >= 0), in both databases', async () => {
    const errors: ResourceErrorEvent[] = []
    nodes[0]?.participant.on('resource-error', (event) => errors.push(event))
    const outcome = await coordinator.commit(transfer(500))
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    expect(errors).toMatchObject([{ operation: 'prepare', error: { code: '23514' } }])
    await settled()
    expect(await balances()).toEqual([100, 100])
    for (const node of nodes) expect(await node.tables.transfers(node.admin)).toEqual(new Map())
  })

  it('commits a single-database transaction in one phase', async () => {
    const outcome = await coordinator.commit({ participants: { 'bank-a': { account: 2, delta: 5 } } })
    expect(outcome.decision).toBe('commit')
    await settled()
    expect(await nodes[0]?.tables.balance(admin('bank-a'), 2)).toBe(105)
  })

  it('finishes the commit after a participant restarts in doubt: start() leaves its prepared transaction to recovery', async () => {
    const [, bankB] = nodes as [Bank, Bank]
    // bank-b votes yes but never hears the decision.
    bankB.participant.once('voted', () => net.block('coord', 'bank-b'))
    const outcome = await coordinator.commit(transfer(40))
    expect(outcome.decision).toBe('commit')
    await expect.poll(() => preparedGids(admin('bank-a'), 'xfer-a')).toEqual([])
    expect(await preparedGids(admin('bank-b'), 'xfer-b')).toEqual([`xfer-b:${outcome.txId}`])

    // bank-b crashes: its process and connections are gone, its prepared transaction is not.
    bankB.log.crash()
    await bankB.participant.close()
    await bankB.resource.close()
    net.heal()

    const { bank, report } = await startBank(bankB)
    nodes[1] = bank
    expect(report.leftToProtocol.map((entry) => entry.txId)).toEqual([outcome.txId])
    expect(report.rolledBack).toEqual([])
    await settled()
    expect(await balances()).toEqual([60, 140])
  })
})
