import { createHash } from 'node:crypto'
import { invalidOption } from '../core/options.js'
import type { TxId } from '../core/types.js'

/** PostgreSQL's limit on a prepared transaction's identifier, in bytes (`GIDSIZE` is 200 including the NUL). */
export const MAX_GID_BYTES = 199

/** Longest accepted `prefix`, in characters: leaves room for `:` and a 128-character transaction id. */
export const MAX_PREFIX_LENGTH = 32

const PREFIX = /^[a-z0-9_-]+$/
/** Transaction ids made only of these characters are kept readable in the gid. */
const PLAIN_TX_ID = /^[A-Za-z0-9._:-]+$/

/**
 * Checks a resource's gid prefix: 1 to {@link MAX_PREFIX_LENGTH} characters from `[a-z0-9_-]`.
 * @throws TwopcError `INVALID_OPTIONS`
 */
export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length > MAX_PREFIX_LENGTH || !PREFIX.test(prefix)) {
    invalidOption('prefix', `1 to ${MAX_PREFIX_LENGTH} characters from [a-z0-9_-]`, prefix)
  }
  return prefix
}

/**
 * The PostgreSQL gid of a transaction: `<prefix>:<txId>` when the transaction id is plain ASCII
 * (`[A-Za-z0-9._:-]`, as generated ids are), so an operator reading `pg_prepared_xacts` sees it;
 * otherwise `<prefix>#<sha256 of the txId in hex>`, because a 128-character id may take 512 bytes
 * in UTF-8, over PostgreSQL's 200-byte limit, and quotes have no place in a SQL literal. The two
 * forms cannot collide: `#` never appears in the plain form. The result matches `[A-Za-z0-9._:#-]`
 * only, so it can be written into `PREPARE TRANSACTION '…'`, which takes no bind parameter.
 */
export function encodeGid(prefix: string, txId: TxId): string {
  const plain = `${prefix}:${txId}`
  if (PLAIN_TX_ID.test(txId) && plain.length <= MAX_GID_BYTES) return plain
  return `${prefix}#${createHash('sha256').update(txId, 'utf8').digest('hex')}`
}

/** Whether `gid` was made by {@link encodeGid} with this prefix: the only gids a resource may touch. */
export function ownsGid(prefix: string, gid: string): boolean {
  return gid.startsWith(`${prefix}:`) || gid.startsWith(`${prefix}#`)
}

/** The transaction id a plain gid carries; `undefined` for a hashed one, which cannot be reversed. */
export function txIdOfGid(prefix: string, gid: string): TxId | undefined {
  return gid.startsWith(`${prefix}:`) ? gid.slice(prefix.length + 1) : undefined
}
