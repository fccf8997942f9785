import type { LogRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import { encodeGid, ownsGid, txIdOfGid } from './postgres-gid.js'

/** A prepared transaction of one resource, as found in `pg_prepared_xacts`. */
export interface PreparedTransaction {
  /** Its PostgreSQL identifier. */
  readonly gid: string
  /** The transaction, when known: always for those in the log, and for any gid of the plain form. */
  readonly txId?: TxId
  /** When PostgreSQL prepared it. */
  readonly preparedAt: Date
}

/** What {@link PostgresResource.start} found in `pg_prepared_xacts` and did about it. */
export interface PostgresReconcileReport {
  /**
   * Prepared transactions the participant voted yes on (its log has a `prepared` record). Left
   * alone: the participant's recovery asks for the outcome of those in doubt and re-applies the
   * known ones, through `commit` and `abort`.
   */
  readonly leftToProtocol: readonly PreparedTransaction[]
  /**
   * Prepared transactions the log proves were never voted yes on — the participant crashed between
   * `PREPARE TRANSACTION` and writing its `prepared` record, so no coordinator can decide commit
   * for them (presumed abort). Rolled back.
   */
  readonly rolledBack: readonly PreparedTransaction[]
  /** Bookkeeping rows deleted because the log no longer holds their transactions. */
  readonly outcomesPruned: number
}

/** A row of `pg_prepared_xacts` in this resource's database. */
export interface FoundPrepared {
  readonly gid: string
  readonly preparedAt: Date
}

/**
 * Splits this resource's prepared transactions into those the log says it voted yes on and the
 * orphans. A vote yes is sent only after the `prepared` record is durable (S2), so a gid with no
 * such record was never voted on, and rolling it back is always safe. Gids of other prefixes are
 * ignored: they belong to other resources.
 */
export function classifyPrepared(
  prefix: string,
  found: readonly FoundPrepared[],
  records: readonly LogRecord[],
): { readonly leftToProtocol: PreparedTransaction[]; readonly orphans: PreparedTransaction[] } {
  const voted = new Map<string, TxId>()
  for (const record of records) {
    if (record.type === 'prepared') voted.set(encodeGid(prefix, record.txId), record.txId)
  }
  const leftToProtocol: PreparedTransaction[] = []
  const orphans: PreparedTransaction[] = []
  for (const { gid, preparedAt } of found) {
    if (!ownsGid(prefix, gid)) continue
    const txId = voted.get(gid) ?? txIdOfGid(prefix, gid)
    const entry = txId === undefined ? { gid, preparedAt } : { gid, txId, preparedAt }
    ;(voted.has(gid) ? leftToProtocol : orphans).push(entry)
  }
  return { leftToProtocol, orphans }
}

/**
 * Every transaction the log still holds a record of: the only ones the participant may ever call
 * `commit` or `abort` for again (it answers questions about forgotten ones without the resource).
 */
export function loggedTxIds(records: readonly LogRecord[]): TxId[] {
  return [...new Set(records.map((record) => record.txId))]
}
