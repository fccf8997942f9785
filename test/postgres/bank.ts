import { escapeIdentifier, escapeLiteral, type Pool } from 'pg'
import type { TransactionInfo } from '../../src/index.js'
import type { PostgresWork } from '../../src/postgres.js'

/** One bank's share of a transfer: add `delta` (negative: take) to `account`. */
export interface TransferShare {
  readonly account: number
  readonly delta: number
}

/** This prefix's prepared transactions in the pool's database. */
export async function preparedGids(pool: Pool, prefix: string): Promise<string[]> {
  const { rows } = await pool.query<{ gid: string }>(
    'SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY gid',
  )
  return rows
    .map((row) => row.gid)
    .filter((gid) => gid.startsWith(`${prefix}:`) || gid.startsWith(`${prefix}#`))
}

/**
 * A bank in one database: `<name>_accounts` (balance CHECK >= 0) and `<name>_transfers` (one row
 * per transfer share, so a test can see which transfers reached this database).
 */
export class BankTables {
  private readonly accountsTable: string
  private readonly transfersTable: string

  constructor(
    readonly name: string,
    readonly prefix: string,
  ) {
    this.accountsTable = escapeIdentifier(`${name}_accounts`)
    this.transfersTable = escapeIdentifier(`${name}_transfers`)
  }

  /**
   * Starts from scratch: rolls back this prefix's prepared transactions left by an earlier run
   * (they hold locks that would block DROP), drops the tables and the resource's bookkeeping table,
   * and creates `count` accounts (ids 1..count) holding `balance` each.
   */
  async reset(pool: Pool, count: number, balance: number): Promise<void> {
    for (const gid of await preparedGids(pool, this.prefix)) {
      await pool.query(`ROLLBACK PREPARED ${escapeLiteral(gid)}`)
    }
    const outcomes = escapeIdentifier(`twopc_${this.prefix}_outcomes`)
    await pool.query(`DROP TABLE IF EXISTS ${this.accountsTable}, ${this.transfersTable}, ${outcomes}`)
    await pool.query(
      `CREATE TABLE ${this.accountsTable} (id integer PRIMARY KEY, balance integer NOT NULL CHECK (balance >= 0))`,
    )
    await pool.query(
      `CREATE TABLE ${this.transfersTable} (tx_id text PRIMARY KEY, account integer NOT NULL, delta integer NOT NULL)`,
    )
    await pool.query(
      `INSERT INTO ${this.accountsTable} (id, balance) SELECT id, $2 FROM generate_series(1, $1) AS id`,
      [count, balance],
    )
  }

  /**
   * The work of a transfer share (payload: {@link TransferShare}). Waits at most `lockTimeoutMs`
   * for a row another transaction holds, so that a lock held by a prepared transaction costs a
   * `no` vote, not a prepare timeout. An overdraft violates the CHECK and throws.
   */
  work(lockTimeoutMs = 200): PostgresWork {
    return async (client, tx: TransactionInfo) => {
      const { account, delta } = tx.payload as unknown as TransferShare
      await client.query(`SET LOCAL lock_timeout = ${Number(lockTimeoutMs)}`)
      const updated = await client.query(
        `UPDATE ${this.accountsTable} SET balance = balance + $2 WHERE id = $1`,
        [account, delta],
      )
      if (updated.rowCount !== 1) return 'no'
      await client.query(`INSERT INTO ${this.transfersTable} (tx_id, account, delta) VALUES ($1, $2, $3)`, [
        tx.txId,
        account,
        delta,
      ])
    }
  }

  /** The balance of one account. */
  async balance(pool: Pool, account: number): Promise<number> {
    const { rows } = await pool.query<{ balance: number }>(
      `SELECT balance FROM ${this.accountsTable} WHERE id = $1`,
      [account],
    )
    return rows[0]?.balance ?? Number.NaN
  }

  /** The sum of every balance. */
  async total(pool: Pool): Promise<number> {
    const { rows } = await pool.query<{ total: number }>(
      `SELECT coalesce(sum(balance), 0)::integer AS total FROM ${this.accountsTable}`,
    )
    return rows[0]?.total ?? Number.NaN
  }

  /** Every transfer share that reached this database: txId → delta. */
  async transfers(pool: Pool): Promise<Map<string, number>> {
    const { rows } = await pool.query<{ tx_id: string; delta: number }>(
      `SELECT tx_id, delta FROM ${this.transfersTable}`,
    )
    return new Map(rows.map((row) => [row.tx_id, row.delta]))
  }
}
