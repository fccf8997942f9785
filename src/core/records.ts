import type { Decision, Json, NodeId, TxId } from './types.js'
import { asFields, FieldReader } from './validate.js'

/**
 * Coordinator: the commit decision. Must be durable BEFORE any `commit` message is sent.
 * `participants` lists those that voted `yes` and therefore still owe an `ack`.
 */
export interface CommitRecord {
  readonly type: 'commit'
  readonly txId: TxId
  readonly participants: readonly NodeId[]
}

/** Coordinator or participant: nothing more to do for this transaction; the log may drop it. Lazy. */
export interface EndRecord {
  readonly type: 'end'
  readonly txId: TxId
}

/**
 * Participant: the resource prepared the work. Must be durable BEFORE `vote: yes` is sent.
 * Holds everything needed to finish the transaction after a restart.
 */
export interface PreparedRecord {
  readonly type: 'prepared'
  readonly txId: TxId
  readonly coordinator: NodeId
  readonly participants: readonly NodeId[]
  readonly payload: Json
  /** One-phase commit: the participant decides itself, and an `outcome` record follows in the same append. */
  readonly onePhase: boolean
}

/**
 * Participant: the outcome it learned or took. A `commit` outcome must be durable BEFORE the `ack`
 * is sent; an `abort` outcome is lazy unless someone is told about it (a cooperative-termination
 * answer or a one-phase vote), in which case it is durable before that message.
 */
export interface OutcomeRecord {
  readonly type: 'outcome'
  readonly txId: TxId
  readonly decision: Decision
  /**
   * Set when an operator took this outcome by hand (`resolveManually`): the reason they gave.
   * A heuristic outcome stays unconfirmed (no `end`) until the real decision is known.
   */
  readonly heuristic?: string
}

/** The reserved `txId` of a {@link CreatedRecord}; transaction ids may not start with `~`. */
export const CREATED_RECORD_TX_ID = '~log'

/**
 * Participant: the first record of its log, forced when it starts on an empty log. It is never
 * compacted (no transaction can have its reserved id), so a participant that later finds an
 * empty log knows it is brand new. Only a participant running on the log it created remembers
 * every transaction it ever voted on; after a restart it may have finished and compacted some, or
 * voted read-only (which leaves no trace), so it stops answering cooperative-termination requests
 * about transactions it does not know.
 */
export interface CreatedRecord {
  readonly type: 'created'
  readonly txId: typeof CREATED_RECORD_TX_ID
}

/** Records a coordinator writes. */
export type CoordinatorRecord = CommitRecord | EndRecord

/** Records a participant writes. */
export type ParticipantRecord = PreparedRecord | OutcomeRecord | CreatedRecord | EndRecord

/** Every durable record, tagged by `type`. JSON-compatible. */
export type LogRecord = CoordinatorRecord | ParticipantRecord

const RECORD_TYPES: readonly LogRecord['type'][] = ['commit', 'end', 'prepared', 'outcome', 'created']
const DECISIONS: readonly Decision[] = ['commit', 'abort']

/**
 * Validates a record read back from a log (or about to be appended) and returns a copy with the
 * known fields only. Logs call it after `load()`; the runtime calls it on what a log returns.
 *
 * @throws TwopcError with code `INVALID_RECORD` naming the field, the value and what was expected.
 */
export function parseRecord(value: unknown): LogRecord {
  const fields = asFields(value, 'log record', 'INVALID_RECORD')
  const read = new FieldReader(fields, 'log record', 'INVALID_RECORD')
  const type = read.oneOf('type', RECORD_TYPES)
  if (type === 'created') {
    if (fields.txId !== CREATED_RECORD_TX_ID)
      read.fail('txId', `'${CREATED_RECORD_TX_ID}' in a created record`)
    return { type, txId: CREATED_RECORD_TX_ID }
  }
  const txId = read.txId('txId')
  switch (type) {
    case 'commit':
      return { type, txId, participants: read.idList('participants') }
    case 'end':
      return { type, txId }
    case 'prepared':
      return {
        type,
        txId,
        coordinator: read.id('coordinator'),
        participants: read.idList('participants'),
        payload: read.payload('payload') as Json,
        onePhase: read.boolean('onePhase'),
      }
    case 'outcome': {
      const decision = read.oneOf('decision', DECISIONS)
      const heuristic = fields.heuristic
      if (heuristic === undefined) return { type, txId, decision }
      if (typeof heuristic === 'string' && heuristic.length <= 1000)
        return { type, txId, decision, heuristic }
      return read.fail('heuristic', 'a string of at most 1000 characters')
    }
  }
}
