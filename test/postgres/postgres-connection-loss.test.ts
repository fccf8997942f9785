import { Pool } from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import {
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  Participant,
  type ResourceErrorEvent,
  type TransactionInfo,
} from '../../src/index.js'
import { PostgresResource } from '../../src/postgres.js'
import { BankTables, preparedGids } from './bank.js'
import { CuttingProxy } from './cutting-proxy.js'
import { BANK_A, databaseUrl, describeWithPostgres } from './pg-env.js'

const PREFIX = 'loss'
const APPLICATION = 'twopc-connection-loss-test'
const bank = new BankTables('loss', PREFIX)

const tx = (txId: string): TransactionInfo => ({
  txId,
  payload: { account: 1, delta: 10 },
  coordinator: 'coord',
  participants: ['bank-a'],
})

describeWithPostgres('PostgresResource when the connection breaks during phase 2', () => {
  let admin: Pool
  let proxy: CuttingProxy
  let resource: PostgresResource

  beforeAll(async () => {
    admin = new Pool({ connectionString: databaseUrl(BANK_A), max: 2 })
    const server = new URL(databaseUrl(BANK_A))
    proxy = await CuttingProxy.start({ host: server.hostname, port: Number(server.port) })
  })
  afterAll(async () => {
    await proxy.close()
    await admin.end()
  })
  beforeEach(async () => {
    await bank.reset(admin, 1, 100)
    const url = new URL(databaseUrl(BANK_A))
    url.port = String(proxy.port)
    // One connection: a broken client handed out again would fail the retry.
    resource = new PostgresResource({
      pool: { connectionString: url.toString(), max: 1, application_name: APPLICATION },
      prefix: PREFIX,
      work: bank.work(),
    })
    await resource.start([])
  })
  afterEach(() => resource.close())

  it('throws when the connection breaks before COMMIT PREPARED reaches the server, and the retry commits', async () => {
    await resource.prepare(tx('before'))
    const caught = proxy.trapNext('COMMIT PREPARED', 'before-server')
    await expect(resource.commit(tx('before'))).rejects.toThrow(/Connection terminated unexpectedly/)
    await caught
    expect(await preparedGids(admin, PREFIX)).toEqual(['loss:before'])

    await resource.commit(tx('before'))
    expect(await preparedGids(admin, PREFIX)).toEqual([])
    expect(await bank.balance(admin, 1)).toBe(110)
  })

  it('throws when the answer to COMMIT PREPARED is lost, and the retry finds it committed', async () => {
    await resource.prepare(tx('after'))
    const caught = proxy.trapNext('COMMIT PREPARED', 'after-server')
    await expect(resource.commit(tx('after'))).rejects.toThrow(/Connection terminated unexpectedly/)
    await caught
    await expect.poll(() => preparedGids(admin, PREFIX)).toEqual([]) // the server did commit it

    await resource.commit(tx('after')) // the gid is gone; the bookkeeping row proves the commit
    expect(await bank.balance(admin, 1)).toBe(110)
    await expect(resource.abort(tx('after'))).rejects.toMatchObject({ problem: 'outcome-conflict' })
  })

  it('recovers under a Participant when pg_terminate_backend kills the connection during COMMIT PREPARED', async () => {
    const net = new MemoryNetwork({ seed: 6 })
    const timings = { retransmitIntervalMs: 10, retransmitIntervalMsMax: 50 }
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      ...timings,
    })
    const participant = new Participant({
      id: 'bank-a',
      transport: net.connect('bank-a'),
      log: new MemoryLog(),
      resource,
      ...timings,
    })
    await Promise.all([coordinator.start(), participant.start()])
    const errors: ResourceErrorEvent[] = []
    participant.on('resource-error', (event) => errors.push(event))
    const applied = new Promise((resolve) => participant.once('applied', resolve))
    try {
      const held = proxy.trapNext('COMMIT PREPARED', 'hold')
      // One participant: one-phase commit, decided once bank-a prepared; then the resource commits.
      const outcome = await coordinator.commit({ participants: { 'bank-a': { account: 1, delta: 10 } } })
      expect(outcome.decision).toBe('commit')
      const release = await held
      const { rows } = await admin.query<{ terminated: boolean }>(
        'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
        [APPLICATION],
      )
      expect(rows).toEqual([{ terminated: true }])
      release()

      await expect(applied).resolves.toMatchObject({ txId: outcome.txId, decision: 'commit' })
      // SQLSTATE 57P01 admin_shutdown, or the closed socket if it won the race.
      expect(errors.map((event) => event.operation)).toEqual(['commit'])
      expect(String(errors[0]?.error)).toMatch(
        /terminating connection due to administrator command|Connection terminated/,
      )
      expect(await preparedGids(admin, PREFIX)).toEqual([])
      expect(await bank.balance(admin, 1)).toBe(110)
    } finally {
      await Promise.all([coordinator.close(), participant.close()])
    }
  })
})
