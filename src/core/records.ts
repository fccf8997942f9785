import type { Decision, Json, NodeId, TxId } from './types.js'
import { asFields, FieldReader, isSealedRecord } from './validate.js'

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
 * Participant, protocol version 1 only: the first record of a log. A version-2 node reads it as
 * incarnation 0, so a log written by version 1 keeps working; version 2 never writes it.
 */
export interface CreatedRecord {
  readonly type: 'created'
  readonly txId: typeof CREATED_RECORD_TX_ID
}

/**
 * The reserved `txId` of the {@link IncarnationRecord} of life `n`: `~inc:<n>`. An `end` record
 * with it lets the log drop that record once a later one is durable (compaction keeps the latest).
 */
export function incarnationTxId(n: number): TxId {
  return `~inc:${n}`
}

/** Which half of the protocol a node runs; a log belongs to one node in one role. */
export type NodeRole = 'coordinator' | 'participant'

/**
 * Coordinator or participant: the node started its life number `n` (1 on an empty log, one more at
 * each start). Forced at every start, before the node sends anything: a participant's messages
 * carry `n` as `inc` and it refuses requests meant for another life; a coordinator's `n` is the
 * `epoch` of its requests. The previous incarnation record is ended in the same append.
 * It also names the log's owner (`node`, `role`): a node that recovers from a log whose
 * incarnation records name another owner refuses to start (`LOG_OWNER_MISMATCH`).
 */
export interface IncarnationRecord {
  readonly type: 'incarnation'
  readonly txId: TxId
  readonly n: number
  /** The id of the node that started this life. */
  readonly node: NodeId
  /** The role it started in. */
  readonly role: NodeRole
}

/** Records a coordinator writes. */
export type CoordinatorRecord = CommitRecord | EndRecord | IncarnationRecord

/** Records a participant writes. */
export type ParticipantRecord = PreparedRecord | OutcomeRecord | IncarnationRecord | CreatedRecord | EndRecord

/** Every durable record, tagged by `type`. JSON-compatible. */
export type LogRecord = CoordinatorRecord | ParticipantRecord

const RECORD_TYPES: readonly LogRecord['type'][] = [
  'commit',
  'end',
  'prepared',
  'outcome',
  'incarnation',
  'created',
]

const INCARNATION_TX_ID = /^~inc:[1-9][0-9]{0,15}$/
const DECISIONS: readonly Decision[] = ['commit', 'abort']
const ROLES: readonly NodeRole[] = ['coordinator', 'participant']

/**
 * Validates a record read back from a log (or about to be appended) and returns a copy with the
 * known fields only. Logs call it after `load()`; the runtime calls it on what a log returns. A
 * record the runtime sealed as a core built it (valid by construction, and frozen since) is
 * returned as it is, at no cost.
 *
 * @throws TwopcError with code `INVALID_RECORD` naming the field, the value and what was expected.
 */
export function parseRecord(value: unknown): LogRecord {
  if (isSealedRecord(value)) return value as LogRecord
  const fields = asFields(value, 'log record', 'INVALID_RECORD')
  const read = new FieldReader(fields, 'log record', 'INVALID_RECORD')
  const type = read.oneOf('type', RECORD_TYPES)
  if (type === 'created') {
    if (fields.txId !== CREATED_RECORD_TX_ID)
      read.fail('txId', `'${CREATED_RECORD_TX_ID}' in a created record`)
    return { type, txId: CREATED_RECORD_TX_ID }
  }
  if (type === 'incarnation') {
    const n = read.counter('n', 1)
    if (fields.txId !== incarnationTxId(n))
      read.fail('txId', `'${incarnationTxId(n)}' in incarnation record ${n}`)
    return { type, txId: incarnationTxId(n), n, node: read.id('node'), role: read.oneOf('role', ROLES) }
  }
  if (type === 'end' && typeof fields.txId === 'string' && INCARNATION_TX_ID.test(fields.txId))
    return { type, txId: fields.txId }
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
