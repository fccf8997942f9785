// The default import is the one every pg 8 release offers to ESM (named exports came later).
import pg, { type Pool, type PoolClient, type PoolConfig } from 'pg'
import { TwopcError } from '../core/errors.js'
import { invalidOption, positiveDuration } from '../core/options.js'
import type { LogRecord } from '../core/records.js'
import type { TransactionInfo, TxId, Vote } from '../core/types.js'
import { VOTES } from '../core/validate.js'
import type { Resource } from '../runtime/interfaces.js'
import { PostgresResourceError, startFailure } from './postgres-errors.js'
import { encodeGid, validatePrefix } from './postgres-gid.js'
import {
  classifyPrepared,
  type FoundPrepared,
  loggedTxIds,
  type PostgresReconcileReport,
} from './postgres-reconcile.js'

/**
 * The participant's share of a transaction, run inside `BEGIN` on a client of the pool. Return
 * nothing or `'yes'` to prepare it, `'no'` to refuse (rolled back), `'read-only'` when there is
 * nothing to commit (rolled back too: a read-only voter gets no phase 2, so nothing may stay).
 * Throw to refuse with a reason (a CHECK violation, a lock timeout…): the transaction is rolled
 * back and the error propagates, so the participant votes `no` and reports it as `resource-error`.
 *
 * Leave the client in its transaction: no `COMMIT`, `ROLLBACK` or `release()`. Bound waits with
 * `SET LOCAL lock_timeout`, so that a lock held by another prepared transaction costs a `no` vote
 * rather than the whole `resourcePrepareTimeoutMs`.
 */
export type PostgresWork = (
  client: PoolClient,
  tx: TransactionInfo,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async work that returns nothing (Promise<void>) means yes
) => Promise<Vote | void> | Vote | undefined

/** Options of a {@link PostgresResource}. */
export interface PostgresResourceOptions {
  /**
   * Where the work runs: a `pg.Pool`, or the configuration of one that the resource creates,
   * owns and ends in {@link PostgresResource.close}. A pool you pass needs an `'error'` listener
   * (pg emits one when an idle connection dies), and a `connectionTimeoutMillis`.
   * A created pool gets both, `connectionTimeoutMillis` defaulting to 10000.
   * @example `{ connectionString: 'postgres://bank:secret@db-a:5432/bank' }`
   */
  readonly pool: Pool | PoolConfig
  /**
   * Marks this resource's prepared transactions, whose gids are `<prefix>:<txId>`. Gids are unique
   * per PostgreSQL *cluster*, so two resources on one server (even in different databases) need
   * different prefixes. Also names the bookkeeping table `twopc_<prefix>_outcomes`.
   * 1 to 32 characters from `[a-z0-9_-]`.
   * @example 'bank-a'
   */
  readonly prefix: string
  /** The work of one transaction; see {@link PostgresWork}. */
  readonly work: PostgresWork
  /**
   * Bounds each statement of the work (`SET LOCAL statement_timeout`). A work waiting for a row
   * that another prepared transaction holds then gives up and votes no, instead of keeping a
   * connection that the other transaction's `COMMIT PREPARED` may need from the same pool.
   * Keep it at or below the participant's `resourcePrepareTimeoutMs`; the work may lower it, or set a
   * shorter `lock_timeout`.
   * @default 5000
   */
  readonly statementTimeoutMs?: number
}

/** SQLSTATE undefined_object: `COMMIT PREPARED` / `ROLLBACK PREPARED` of a gid that is not prepared. */
const UNDEFINED_OBJECT = '42704'

/**
 * A {@link Resource} backed by PostgreSQL prepared transactions (`twopc/postgres`; needs `pg`).
 *
 * - `prepare` runs the {@link PostgresWork} inside `BEGIN`, records the gid in the bookkeeping
 *   table `twopc_<prefix>_outcomes` in the same transaction, then `PREPARE TRANSACTION`. The work
 *   now survives a crash of this process and of the server, holding its locks until phase 2.
 * - `commit` / `abort` run `COMMIT PREPARED` / `ROLLBACK PREPARED`. Both are idempotent without
 *   guessing: when the gid is no longer prepared, the bookkeeping row tells what happened — it
 *   exists only if the prepared transaction committed. The opposite outcome is an
 *   `outcome-conflict` error. A lost connection is thrown as is, and the participant retries.
 * - `start(records)` checks the server and rolls back prepared transactions the log proves were
 *   never voted yes on (see {@link PostgresReconcileReport}).
 *
 * Order of calls — the resource must reconcile before the participant acts on anything:
 * ```ts
 * const log = new FileLog({ path: 'bank-a.log' })
 * const resource = new PostgresResource({ pool: { connectionString }, prefix: 'bank-a', work })
 * const report = await resource.start(await log.load()) // before participant.start()
 * const participant = new Participant({ id: 'bank-a', log, transport, resource })
 * await participant.start() // loads the log again: FileLog and MemoryLog return the same records
 * // …
 * await participant.close()
 * await resource.close()
 * ```
 */
export class PostgresResource implements Resource {
  /** The gid prefix of this resource's prepared transactions. */
  readonly prefix: string
  private readonly pool: Pool
  private readonly ownsPool: boolean
  private readonly work: PostgresWork
  private readonly statementTimeoutMs: number
  /** The bookkeeping table, quoted: a row per prepared transaction, visible only once it committed. */
  private readonly outcomes: string
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new'
  /** Prepares still running, so that an abort (after a prepare timeout) waits for them to settle. */
  private readonly preparing = new Map<TxId, Promise<unknown>>()

  /** @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected. */
  constructor(options: PostgresResourceOptions) {
    if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
    this.prefix = validatePrefix(options.prefix)
    if (typeof options.work !== 'function') invalidOption('work', 'a function', options.work)
    this.work = options.work
    this.statementTimeoutMs = positiveDuration('statementTimeoutMs', options.statementTimeoutMs, 5000)
    if (typeof options.pool !== 'object' || options.pool === null) {
      invalidOption('pool', 'a pg.Pool or a pool configuration', options.pool)
    }
    this.ownsPool = !isPool(options.pool)
    if (isPool(options.pool)) {
      this.pool = options.pool
    } else {
      this.pool = new pg.Pool({ connectionTimeoutMillis: 10_000, ...options.pool })
      // pg emits 'error' when an idle connection dies (server restart, pg_terminate_backend) and
      // already drops that client; unheard, the event would crash the process.
      this.pool.on('error', () => {})
    }
    // The prefix is [a-z0-9_-]: double quotes make it a safe identifier as it is.
    this.outcomes = `"twopc_${this.prefix}_outcomes"`
  }

  /**
   * Checks the server, creates the bookkeeping table if missing, and reconciles
   * `pg_prepared_xacts` with the participant's log: this resource's prepared transactions the log
   * has a `prepared` record of are left to the participant's recovery; the others are rolled back.
   * Also deletes bookkeeping rows of transactions the log no longer holds.
   *
   * Call once, with every record of the participant's log (`await log.load()`), before
   * `participant.start()` — after it, a prepare in flight would look like an orphan.
   *
   * @throws PostgresResourceError with `problem` `prepared-transactions-disabled`,
   * `authentication-failed`, `unreachable` or `server-error`; TwopcError `INVALID_REQUEST` when
   * called twice or after {@link close}.
   */
  async start(records: readonly LogRecord[]): Promise<PostgresReconcileReport> {
    if (this.state !== 'new') {
      throw new TwopcError(
        'INVALID_REQUEST',
        `PostgresResource.start() called on a resource that is ${this.state}`,
      )
    }
    this.state = 'starting'
    try {
      const report = await this.withClient(async (client) => {
        await this.checkServer(client)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.outcomes} (gid text PRIMARY KEY, tx_id text NOT NULL, prepared_at timestamptz NOT NULL DEFAULT now())`,
        )
        return this.reconcile(client, records)
      })
      this.state = 'started'
      return report
    } catch (error) {
      this.state = 'new'
      throw startFailure(error)
    }
  }

  /**
   * Runs the work in `BEGIN` and prepares it. Called by the participant, once per transaction.
   * @throws whatever the work threw (after `ROLLBACK`), a `pg` error, or TwopcError `NOT_STARTED`
   */
  async prepare(tx: TransactionInfo): Promise<Vote> {
    this.assertStarted()
    const running = this.runPrepare(tx)
    this.preparing.set(tx.txId, running)
    try {
      return await running
    } finally {
      if (this.preparing.get(tx.txId) === running) this.preparing.delete(tx.txId)
    }
  }

  /**
   * `COMMIT PREPARED`. Idempotent; retried by the participant until it succeeds.
   * @throws a `pg` error on a lost connection (retry it); PostgresResourceError `outcome-conflict`
   * if this transaction was rolled back here; TwopcError `NOT_STARTED`
   */
  commit(tx: TransactionInfo): Promise<void> {
    return this.finish(tx, 'commit')
  }

  /**
   * `ROLLBACK PREPARED`, after any prepare of the same transaction still running has settled.
   * Idempotent, and fine for a transaction that was never prepared.
   * @throws a `pg` error on a lost connection (retry it); PostgresResourceError `outcome-conflict`
   * if this transaction was committed here; TwopcError `NOT_STARTED`
   */
  abort(tx: TransactionInfo): Promise<void> {
    return this.finish(tx, 'abort')
  }

  /** Ends the pool if the resource created it; a pool passed in is left to its owner. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    if (this.ownsPool) await this.pool.end()
  }

  private assertStarted(): void {
    if (this.state === 'started') return
    if (this.state === 'closed') throw new TwopcError('CLOSED', 'The PostgresResource is closed')
    throw new TwopcError('NOT_STARTED', 'Call PostgresResource.start(records) before participant.start()')
  }

  private async checkServer(client: PoolClient): Promise<void> {
    const { rows } = await client.query<{ max_prepared_transactions: string }>(
      'SHOW max_prepared_transactions',
    )
    if (Number(rows[0]?.max_prepared_transactions) > 0) return
    throw new PostgresResourceError(
      'prepared-transactions-disabled',
      'PostgreSQL has max_prepared_transactions = 0, so PREPARE TRANSACTION is disabled. As a superuser run ' +
        '`ALTER SYSTEM SET max_prepared_transactions = 64` (at least the number of transactions that may be ' +
        'prepared at once), then restart the server',
    )
  }

  private async reconcile(
    client: PoolClient,
    records: readonly LogRecord[],
  ): Promise<PostgresReconcileReport> {
    const { rows } = await client.query<FoundPrepared>(
      'SELECT gid, prepared AS "preparedAt" FROM pg_prepared_xacts WHERE database = current_database()',
    )
    const { leftToProtocol, orphans } = classifyPrepared(this.prefix, rows, records)
    for (const { gid } of orphans) await rollbackPrepared(client, gid)
    const pruned = await client.query(`DELETE FROM ${this.outcomes} WHERE NOT (tx_id = ANY($1::text[]))`, [
      loggedTxIds(records),
    ])
    return { leftToProtocol, rolledBack: orphans, outcomesPruned: pruned.rowCount ?? 0 }
  }

  private async runPrepare(tx: TransactionInfo): Promise<Vote> {
    const gid = encodeGid(this.prefix, tx.txId)
    const result = await this.withClient(async (client): Promise<{ vote: Vote } | { refusal: unknown }> => {
      await client.query(`BEGIN; SET LOCAL statement_timeout = ${this.statementTimeoutMs}`)
      try {
        const vote = (await this.work(client, tx)) ?? 'yes'
        if (!VOTES.includes(vote as Vote)) {
          throw new TwopcError(
            'INVALID_REQUEST',
            `work returned ${String(vote)}, expected 'yes', 'no', 'read-only' or nothing`,
          )
        }
        if (vote !== 'yes') {
          await client.query('ROLLBACK')
          return { vote }
        }
        // The bookkeeping row and the prepare in one round trip (a multi-statement query takes no
        // bind parameters, hence the values written out: the gid is ASCII, the id goes as the hex
        // of its UTF-8, so no client_encoding the work may have set can change what they say). If
        // the INSERT fails, PostgreSQL skips the PREPARE; a failed PREPARE TRANSACTION rolls the
        // transaction back; either way the ROLLBACK below ends it.
        const results: unknown = await client.query(
          `INSERT INTO ${this.outcomes} (gid, tx_id) VALUES (${literal(gid)}, ${utf8Text(tx.txId)}); ` +
            `PREPARE TRANSACTION ${literal(gid)}`,
        )
        // A yes only if the PREPARE ran (pg answers a multi-statement query with one result each).
        const last = Array.isArray(results)
          ? (results.at(-1) as { command?: unknown } | undefined)
          : undefined
        if (last?.command !== 'PREPARE') throw new Error(`PREPARE TRANSACTION ${gid} did not run`)
        return { vote: 'yes' }
      } catch (error) {
        // A refusal (a CHECK violation…) leaves a healthy connection once rolled back. If ROLLBACK
        // fails too, the connection is gone: throwing here makes withClient destroy it.
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        )
        if (!rolledBack) throw error
        return { refusal: error }
      }
    })
    if ('refusal' in result) throw result.refusal
    return result.vote
  }

  private async finish(tx: TransactionInfo, decision: 'commit' | 'abort'): Promise<void> {
    this.assertStarted()
    // A prepare that outlived the participant's resourcePrepareTimeoutMs may still reach PREPARE TRANSACTION.
    await this.preparing.get(tx.txId)?.catch(() => {})
    const gid = encodeGid(this.prefix, tx.txId)
    await this.withClient(async (client) => {
      try {
        await client.query(`${decision === 'commit' ? 'COMMIT' : 'ROLLBACK'} PREPARED ${literal(gid)}`)
        return
      } catch (error) {
        if ((error as { code?: unknown }).code !== UNDEFINED_OBJECT) throw error
      }
      // Not prepared (any more): an earlier call finished it — perhaps just before its connection
      // broke — or it was rolled back, or never prepared. The bookkeeping row tells which.
      const { rowCount } = await client.query(`SELECT 1 FROM ${this.outcomes} WHERE gid = $1`, [gid])
      const committed = (rowCount ?? 0) > 0
      if (committed === (decision === 'commit')) return
      throw new PostgresResourceError(
        'outcome-conflict',
        `Asked to ${decision} transaction ${tx.txId} (gid ${gid}), but PostgreSQL ${committed ? 'committed it' : 'rolled it back'}. ` +
          'A participant must never apply both outcomes (S6): check for a second participant using the same prefix, ' +
          'or for a manual COMMIT PREPARED / ROLLBACK PREPARED',
      )
    })
  }

  /**
   * Lends a client of the pool to `use`. A client whose query failed is destroyed rather than
   * returned: after a lost connection or a half-finished transaction it must not serve the next
   * caller, and the participant's retry then gets a fresh connection.
   */
  private async withClient<T>(use: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    // A connection that dies while we hold the client fails the query in progress (or the next
    // one); pg also emits 'error' on the client, which would crash the process with no listener.
    const ignore = () => {}
    client.on('error', ignore)
    let failure: unknown
    try {
      return await use(client)
    } catch (error) {
      failure = error
      throw error
    } finally {
      client.off('error', ignore)
      client.release(failure === undefined ? undefined : true)
    }
  }
}

/** Rolls back an orphan; one finished meanwhile (by a concurrent process) is no longer there to roll back. */
async function rollbackPrepared(client: PoolClient, gid: string): Promise<void> {
  try {
    await client.query(`ROLLBACK PREPARED ${literal(gid)}`)
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNDEFINED_OBJECT) throw error
  }
}

/**
 * `text` as an SQL expression written in ASCII only — the hex of its UTF-8 bytes, decoded by the
 * server — for a value that may hold any character (a transaction id) in a query that takes no bind
 * parameter: its meaning cannot depend on the connection's `client_encoding`, which a work may set.
 */
function utf8Text(text: string): string {
  return `convert_from(decode('${Buffer.from(text, 'utf8').toString('hex')}', 'hex'), 'UTF8')`
}

/**
 * A gid as the SQL literal that PREPARE TRANSACTION, COMMIT PREPARED and ROLLBACK PREPARED take
 * (they accept no bind parameter). Gids from encodeGid are ASCII with no quote or backslash; one
 * from pg_prepared_xacts matched this resource's prefix, but its tail could be anything: as an
 * escape string (`E'…'`) with quotes and backslashes doubled, it reads back exactly whatever the
 * server's `standard_conforming_strings` (read on connections of this resource's own, in UTF-8).
 */
function literal(gid: string): string {
  return `E'${gid.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`
}

function isPool(value: Pool | PoolConfig): value is Pool {
  const candidate = value as { connect?: unknown; query?: unknown }
  return typeof candidate.connect === 'function' && typeof candidate.query === 'function'
}
