/**
 * Identifies a node (a coordinator or a participant). Transports route messages by it.
 * At most {@link MAX_ID_LENGTH} characters (UTF-16 code units), no control characters, no lone surrogates.
 */
export type NodeId = string

/** Identifies one transaction across every node. At most {@link MAX_ID_LENGTH} characters. */
export type TxId = string

/** Longest node id or transaction id accepted, in characters (PostgreSQL gids are bounded at 200 bytes). */
export const MAX_ID_LENGTH = 128

/** Most participants one transaction may have. */
export const MAX_PARTICIPANTS = 1000

/**
 * A participant's answer to `prepare`:
 * - `yes`: the work is prepared durably and can be committed or aborted on request;
 * - `no`: the work cannot commit; the transaction will abort;
 * - `read-only`: nothing to commit here; counts as yes and the participant needs no phase 2.
 */
export type Vote = 'yes' | 'no' | 'read-only'

/** The outcome of a transaction. `abort` is the decision; "cancel" is what a caller does, never a decision. */
export type Decision = 'commit' | 'abort'

/**
 * Why a transaction aborted, as reported to the caller of `commit()`:
 * - `vote-no`: a participant voted no;
 * - `prepare-timeout`: not every vote arrived within `prepareTimeoutMs`;
 * - `cancelled`: the caller cancelled it (its `signal` fired);
 * - `refused`: a participant refused to prepare it: it restarted after the transaction began (its
 *   new life does not act on requests meant for an earlier one), or the `prepare` arrived after the
 *   participant had already forgotten a later transaction of this coordinator
 *   (`rememberedTransactions`). Nothing was prepared there; safe to retry with a new `txId`.
 */
export type AbortReason = 'vote-no' | 'prepare-timeout' | 'cancelled' | 'refused'

/** A JSON-compatible value: what payloads may contain so that every transport can carry them. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/**
 * What a participant's resource is told about a transaction.
 * Built from the `prepare` message and, after a restart, from the durable `prepared` record,
 * so `commit` and `abort` receive the same object shape after recovery.
 */
export interface TransactionInfo {
  /** The transaction. */
  readonly txId: TxId
  /** This participant's share of the work, exactly as the coordinator's caller passed it. */
  readonly payload: Json
  /** The coordinator that runs the transaction. */
  readonly coordinator: NodeId
  /** Every participant of the transaction, this one included. */
  readonly participants: readonly NodeId[]
}
