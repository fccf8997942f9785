import { escapeIdentifier, Pool } from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { Coordinator, type Message, Participant, type TxId } from '../../src/index.js'
import { PostgresResource, type PostgresWork } from '../../src/postgres.js'
import { CompactingLog, Router, sleep } from '../runtime/double-apply-kit.js'
import { BankTables, preparedGids, type TransferShare } from './bank.js'
import { BANK_A, BANK_B, databaseUrl, describeWithPostgres } from './pg-env.js'

/**
 * Issue 12, "double apply", against a real PostgreSQL: under protocol v1 a participant that
 * committed a credit of 100, compacted it out of its log and restarted prepared it again when a
 * delayed duplicate of its `prepare` arrived, and committed it a second time: balance 200. Protocol
 * v2 binds every prepare to one life of its participant; the new life refuses the stale copy.
 * Same scenario as test/runtime/double-apply.test.ts, with `PostgresResource` on both banks.
 */

const TIMINGS = { retransmitIntervalMs: 10, retransmitIntervalMsMax: 40 } as const
/** How long to let retransmissions run after the stale copy arrived: many decision-request rounds. */
const SETTLE_MS = 300

type BankId = 'bank-a' | 'bank-b'

/** A bank's participant and resource, restartable on the same log (its "disk") and database. */
interface Bank {
  readonly id: BankId
  readonly database: string
  readonly tables: BankTables
  readonly log: CompactingLog
  participant: Participant
  resource: PostgresResource
}

describeWithPostgres(
  'a delayed duplicate prepare reaching a restarted PostgreSQL participant (issue 12)',
  () => {
    const specs = {
      'bank-a': { database: BANK_A, tables: new BankTables('dblapply', 'dblapply-a'), balance: 100 },
      'bank-b': { database: BANK_B, tables: new BankTables('dblapply', 'dblapply-b'), balance: 0 },
    } as const
    const admins = new Map<BankId, Pool>()
    const admin = (id: BankId): Pool => admins.get(id) as Pool
    let router: Router
    let coordinator: Coordinator
    let banks: Map<BankId, Bank>

    /**
     * The work: add `delta` to `account`, a plain UPDATE as in the issue. (A row keyed by the
     * transaction, like BankTables' transfer rows, would make v1's second prepare fail on its
     * primary key and vote no, hiding the double apply.)
     */
    const work: PostgresWork = async (client, tx) => {
      const { account, delta } = tx.payload as unknown as TransferShare
      await client.query('SET LOCAL lock_timeout = 200')
      const updated = await client.query(
        `UPDATE ${escapeIdentifier('dblapply_accounts')} SET balance = balance + $2 WHERE id = $1`,
        [account, delta],
      )
      return updated.rowCount === 1 ? 'yes' : 'no'
    }

    /** Starts a bank's resource (reconciling with its log), then its participant, as the docs say. */
    async function startBank(id: BankId, log: CompactingLog): Promise<Bank> {
      const { database, tables } = specs[id]
      const resource = new PostgresResource({
        pool: { connectionString: databaseUrl(database) },
        prefix: tables.prefix,
        work,
      })
      await resource.start(await log.load())
      const participant = new Participant({ id, transport: router.connect(id), log, resource, ...TIMINGS })
      await participant.start()
      const bank: Bank = { id, database, tables, log, participant, resource }
      banks.set(id, bank)
      return bank
    }

    /** Stops a bank's process: its participant and its connections. The log and the database stay. */
    async function stopBank(bank: Bank): Promise<void> {
      await bank.participant.close()
      await bank.resource.close()
    }

    const balance = (id: BankId, account: number) => specs[id].tables.balance(admin(id), account)
    /** The prepared transactions of both banks' prefixes, straight from `pg_prepared_xacts`. */
    const prepared = async () => [
      ...(await preparedGids(admin('bank-a'), specs['bank-a'].tables.prefix)),
      ...(await preparedGids(admin('bank-b'), specs['bank-b'].tables.prefix)),
    ]
    const prepareOf = (txId: TxId, to: BankId) => (message: Message) =>
      message.type === 'prepare' && message.txId === txId && message.to === to

    beforeAll(() => {
      for (const [id, { database }] of Object.entries(specs))
        admins.set(id as BankId, new Pool({ connectionString: databaseUrl(database), max: 2 }))
    })
    afterAll(() => Promise.all([...admins.values()].map((pool) => pool.end())))

    beforeEach(async () => {
      router = new Router()
      banks = new Map()
      for (const [id, { tables, balance }] of Object.entries(specs))
        await tables.reset(admin(id as BankId), 2, balance)
      coordinator = new Coordinator({
        id: 'coord',
        transport: router.connect('coord'),
        log: new CompactingLog(),
        prepareTimeoutMs: 5000,
        ...TIMINGS,
      })
      await coordinator.start()
      await startBank('bank-a', new CompactingLog())
      await startBank('bank-b', new CompactingLog())
      // Warm-up (a transfer of 0): the coordinator learns which life each bank is in, so that the
      // next prepare to a bank is the one it acts on (not a first-contact probe, which any life refuses).
      const warmUp = await coordinator.commit({
        txId: 'warm-up',
        participants: { 'bank-a': { account: 2, delta: 0 }, 'bank-b': { account: 2, delta: 0 } },
      })
      expect(warmUp.decision).toBe('commit')
      await coordinator.completion('warm-up')
    })
    afterEach(async () => {
      await coordinator.close()
      for (const bank of banks.values()) await stopBank(bank)
    })

    /**
     * Restarts bank-b on the same log and database (a new life), delivers the held copy of its old
     * prepare, and lets retransmissions run. Returns the new life's `refused` and `voted` events.
     */
    async function restartBankBAndDeliverTheCopy(account: number) {
      const old = banks.get('bank-b') as Bank
      await stopBank(old)
      const bank = await startBank('bank-b', old.log)
      const refused: unknown[] = []
      const voted: TxId[] = []
      bank.participant.on('refused', (event) => refused.push(event))
      bank.participant.on('voted', (event) => voted.push(event.txId))
      expect(router.release()).toBe(1)
      // v2: the new life refuses the copy. v1 (the bug): it prepares and commits the credit again.
      await expect
        .poll(async () => refused.length > 0 || (await balance('bank-b', account)) !== 100)
        .toBe(true)
      await sleep(SETTLE_MS)
      return { refused, voted, log: bank.log }
    }

    it('two-phase: bank-b committed a credit of 100, compacted and restarted; the stale prepare is refused and the balance stays 100', async () => {
      const bankB = banks.get('bank-b') as Bank
      const firstLifeRefusals: unknown[] = []
      bankB.participant.on('refused', (event) => firstLifeRefusals.push(event))
      const held = router.duplicateFirst(prepareOf('t', 'bank-b'))
      // bank-a's acks are lost: the coordinator keeps t in `committing`, resending commit to bank-a.
      const unblockA = router.block((m) => m.type === 'ack' && m.from === 'bank-a' && m.txId === 't')
      const outcome = await coordinator.commit({
        txId: 't',
        participants: { 'bank-a': { account: 1, delta: -100 }, 'bank-b': { account: 1, delta: 100 } },
      })
      expect(outcome).toEqual({ txId: 't', decision: 'commit' })
      expect((await held).type).toBe('prepare')

      // bank-b committed (COMMIT PREPARED), acked, wrote `end`, and its log compacted t away.
      await expect
        .poll(() => coordinator.status('t'))
        .toEqual({ state: 'committing', pendingAcks: ['bank-a'] })
      await expect.poll(() => bankB.log.holds('t')).toBe(false)
      await expect.poll(() => balance('bank-b', 1)).toBe(100)
      expect(await preparedGids(admin('bank-b'), bankB.tables.prefix)).toEqual([])
      // The held copy is the prepare bank-b acted on: its first life refused nothing of t.
      expect(firstLifeRefusals).toEqual([])

      const { refused, voted, log } = await restartBankBAndDeliverTheCopy(1)

      // Straight from the database: credited once, and nothing left prepared.
      expect(await balance('bank-b', 1)).toBe(100)
      expect(await prepared()).toEqual([])
      expect(refused).toEqual([{ type: 'refused', txId: 't', coordinator: 'coord' }])
      expect(voted).toEqual([])
      expect(log.holds('t')).toBe(false)

      // bank-a's acks get through again: the transfer completes, applied once on each side.
      unblockA()
      await coordinator.completion('t')
      expect(coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
      expect([await balance('bank-a', 1), await balance('bank-b', 1)]).toEqual([0, 100])
      expect(await prepared()).toEqual([])
    })

    it('one-phase: bank-b alone committed a credit of 100, compacted and restarted; the stale prepare is refused and the balance stays 100', async () => {
      const bankB = banks.get('bank-b') as Bank
      const firstLifeRefusals: unknown[] = []
      bankB.participant.on('refused', (event) => firstLifeRefusals.push(event))
      const held = router.duplicateFirst(prepareOf('t1', 'bank-b'))
      const outcome = await coordinator.commit({
        txId: 't1',
        participants: { 'bank-b': { account: 1, delta: 100 } },
      })
      expect(outcome).toEqual({ txId: 't1', decision: 'commit' })
      await coordinator.completion('t1')
      expect(await held).toMatchObject({ type: 'prepare', onePhase: true })
      await expect.poll(() => bankB.log.holds('t1')).toBe(false)
      expect(await balance('bank-b', 1)).toBe(100)
      expect(firstLifeRefusals).toEqual([])

      const { refused, voted, log } = await restartBankBAndDeliverTheCopy(1)

      expect(await balance('bank-b', 1)).toBe(100)
      expect(await prepared()).toEqual([])
      expect(refused).toEqual([{ type: 'refused', txId: 't1', coordinator: 'coord' }])
      expect(voted).toEqual([])
      expect(log.holds('t1')).toBe(false)
      expect(await balance('bank-a', 1)).toBe(100)
    })
  },
)
