import { unreachable } from './errors.js'
import type { Decision, Json, NodeId, TxId, Vote } from './types.js'
import { asFields, FieldReader, isSealedMessage, VOTES } from './validate.js'

/**
 * Wire format version carried by every message as `v`. Version 2 binds every `prepare` to one life
 * of its participant (incarnations) and to the coordinator's order of transactions (`epoch`, `seq`).
 */
export const PROTOCOL_VERSION = 2

/** Fields every message carries. `from` and `to` are node ids; transports route by `to`. */
export interface MessageHeader {
  /** Wire format version, {@link PROTOCOL_VERSION}. */
  readonly v: typeof PROTOCOL_VERSION
  /** The transaction the message is about. */
  readonly txId: TxId
  /** Sender. Authenticated transports check it against the connection's peer. */
  readonly from: NodeId
  /** Recipient. */
  readonly to: NodeId
}

/**
 * What binds a request to prepare (or to abort, one-phase) to one life of its participant and to
 * the coordinator's order of transactions. A participant that does not know the transaction acts
 * on the request only if `inc` is its current incarnation and (`epoch`, `seq`) is above what it has
 * forgotten from this coordinator; otherwise it refuses (a `no` vote with `refused`), so a
 * duplicated or delayed request can never make it prepare work again.
 */
export interface PrepareTicket {
  /**
   * The incarnation of the recipient the coordinator expects (it learns them from `inc` on the
   * participants' messages); 0 when it does not know it yet, which every participant refuses,
   * telling its incarnation: the coordinator then asks again with it.
   */
  readonly inc: number
  /** The coordinator's own incarnation: it grows at each coordinator start. */
  readonly epoch: number
  /** The transaction's place in the coordinator's order within `epoch`, from 1. */
  readonly seq: number
}

/** Coordinator → participant: prepare your share of the work and vote. Phase 1. */
export interface PrepareMessage extends MessageHeader, PrepareTicket {
  readonly type: 'prepare'
  /** The recipient's share of the work. */
  readonly payload: Json
  /** Every participant of the transaction (used by cooperative termination). */
  readonly participants: readonly NodeId[]
  /**
   * True when the recipient is the only participant: it decides on its own (one-phase commit),
   * and its `vote` is the outcome (`yes` = committed, `no` = aborted).
   */
  readonly onePhase: boolean
}

/** Participant → coordinator: the answer to `prepare`. Never called an "ack". */
export interface VoteMessage extends MessageHeader, ParticipantStamp {
  readonly type: 'vote'
  readonly vote: Vote
  /**
   * Set on a `no` that is a refusal: the participant does not know the transaction and the request
   * was not for its current life (or was older than what it forgot), so it did nothing — no
   * resource call, no record. The value is the `inc` of the request it refused (so that a late
   * copy answering an earlier request is recognised); `inc` says which life refused.
   */
  readonly refused?: number
  /**
   * Set on a one-phase participant's vote, which is the outcome itself: the coordinator confirms
   * it with `commit` or `abort` (even after forgetting the transaction), and only then may the
   * participant forget it.
   */
  readonly onePhase?: true
}

/** Carried by every message only a participant sends (`vote`, `ack`, `decision-request`). */
export interface ParticipantStamp {
  /** The sender's incarnation: 1 on its first start, one more at each start after. */
  readonly inc: number
}

/** The commit decision: coordinator → participant in phase 2, or anyone's answer to a `decision-request`. */
export interface CommitMessage extends MessageHeader {
  readonly type: 'commit'
}

/**
 * The abort decision: coordinator → participant, or anyone's answer to a `decision-request`.
 * Under presumed abort it is never acknowledged.
 */
export interface AbortMessage extends MessageHeader {
  readonly type: 'abort'
  /**
   * Set when a one-phase coordinator that timed out (or was cancelled) asks its participant to
   * abort. The participant decides: it answers with its vote, which may still be `yes`.
   */
  readonly onePhase?: true
  /** With `onePhase`: the same ticket as the transaction's `prepare`. */
  readonly ticket?: PrepareTicket
}

/** Participant → coordinator: the commit outcome is durable here; the coordinator may forget it once all are in. */
export interface AckMessage extends MessageHeader, ParticipantStamp {
  readonly type: 'ack'
  /**
   * Present when an operator resolved the transaction by hand on this participant
   * (`resolveManually`) and the outcome taken there differs from the decision being acknowledged:
   * a heuristic mismatch, which the coordinator reports.
   */
  readonly heuristic?: Decision
}

/** An in-doubt participant asks the coordinator, or a peer, for the outcome. Answered by `commit` or `abort`. */
export interface DecisionRequestMessage extends MessageHeader, ParticipantStamp {
  readonly type: 'decision-request'
}

/** Every message of the protocol, tagged by `type`. JSON-compatible. */
export type Message =
  | PrepareMessage
  | VoteMessage
  | CommitMessage
  | AbortMessage
  | AckMessage
  | DecisionRequestMessage

/** The `type` of a message. */
export type MessageType = Message['type']

/** Every message type, in protocol order. */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'prepare',
  'vote',
  'commit',
  'abort',
  'ack',
  'decision-request',
]

const DECISIONS: readonly Decision[] = ['commit', 'abort']

/**
 * Validates an untrusted value (typically `JSON.parse` of bytes from the network) and returns
 * a well-formed {@link Message} built from the known fields only.
 *
 * Called by the runtime on every inbound message, whatever the transport. The library's own
 * transports validate at their edge and hand over deep-frozen messages that this function returns
 * as they are, at no cost, as it does the messages the runtime sealed as a core built them (valid
 * by construction); any other value (a custom transport's plain object) is checked in full.
 *
 * @throws TwopcError with code `INVALID_MESSAGE` whose message names the field, the value and what
 * was expected. It never throws anything else, whatever `value` is.
 */
export function parseMessage(value: unknown): Message {
  if (isSealedMessage(value)) return value as Message
  const fields = asFields(value, 'message', 'INVALID_MESSAGE')
  const read = new FieldReader(fields, 'message', 'INVALID_MESSAGE')
  if (fields.v !== PROTOCOL_VERSION) read.fail('v', String(PROTOCOL_VERSION))
  const type = read.oneOf('type', MESSAGE_TYPES)
  const v = PROTOCOL_VERSION
  const txId = read.txId('txId')
  const from = read.id('from')
  const to = read.id('to')
  // Each message is one object literal: on Node 20 (V8 11.3), spreading a fresh header object into
  // another literal made this function over ten times slower.
  switch (type) {
    case 'prepare': {
      const payload = read.payload('payload') as Json
      const participants = read.idList('participants')
      const onePhase = read.boolean('onePhase')
      const { inc, epoch, seq } = readTicket(read)
      return { v, txId, from, to, type, payload, participants, onePhase, inc, epoch, seq }
    }
    case 'vote': {
      const vote = read.oneOf('vote', VOTES)
      const inc = read.counter('inc', 1)
      const onePhase = read.flag('onePhase')
      if (fields.refused !== undefined) {
        if (vote !== 'no' || onePhase) read.fail('refused', "absent unless `vote` is 'no' and not `onePhase`")
        return { v, txId, from, to, type, vote, inc, refused: read.counter('refused', 0) }
      }
      return onePhase
        ? { v, txId, from, to, type, vote, inc, onePhase: true }
        : { v, txId, from, to, type, vote, inc }
    }
    case 'commit':
      return { v, txId, from, to, type }
    case 'abort':
      if (!read.flag('onePhase')) return { v, txId, from, to, type }
      return {
        v,
        txId,
        from,
        to,
        type,
        onePhase: true,
        ticket: readTicket(asFieldReader(fields.ticket, 'ticket')),
      }
    case 'ack': {
      const inc = read.counter('inc', 1)
      return fields.heuristic === undefined
        ? { v, txId, from, to, type, inc }
        : { v, txId, from, to, type, inc, heuristic: read.oneOf('heuristic', DECISIONS) }
    }
    case 'decision-request':
      return { v, txId, from, to, type, inc: read.counter('inc', 1) }
    default:
      return unreachable(type)
  }
}

function readTicket(read: FieldReader): PrepareTicket {
  return { inc: read.counter('inc', 0), epoch: read.counter('epoch', 1), seq: read.counter('seq', 1) }
}

function asFieldReader(value: unknown, what: string): FieldReader {
  return new FieldReader(
    asFields(value, `message ${what}`, 'INVALID_MESSAGE'),
    `message ${what}`,
    'INVALID_MESSAGE',
  )
}
