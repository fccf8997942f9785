import type { Message } from './messages.js'
import type { LogRecord } from './records.js'
import type { AbortReason, Decision, NodeId, TransactionInfo, TxId, Vote } from './types.js'

/**
 * The timers a core arms, one of each kind per transaction:
 * - `prepare-timeout` (coordinator): no votes in time → abort;
 * - `retransmit` (coordinator): resend `prepare` to silent participants, or `commit` to those that have not acked;
 * - `decision-request` (participant): an in-doubt participant asks for the outcome again.
 */
export type TimerKind = 'prepare-timeout' | 'retransmit' | 'decision-request'

/** Arm (or re-arm, replacing the previous one) the timer `timer` of `txId` to fire after `delayMs`. */
export interface SetTimer {
  readonly type: 'set-timer'
  readonly txId: TxId
  readonly timer: TimerKind
  readonly delayMs: number
}

/** Disarm the timer `timer` of `txId`, if armed. */
export interface ClearTimer {
  readonly type: 'clear-timer'
  readonly txId: TxId
  readonly timer: TimerKind
}

/** A timer effect. */
export type TimerEffect = SetTimer | ClearTimer

/**
 * Work for a participant's resource. The runtime reports completion back to the core:
 * `prepare` with a `prepare-result` input, `commit`/`abort` with an `applied` input.
 * `commit` and `abort` may be requested again after a restart: resources must make them idempotent.
 */
export interface ResourceRequest {
  readonly type: 'prepare' | 'commit' | 'abort'
  readonly tx: TransactionInfo
}

/** Why a core ignored an inbound message. Dropping is normal on a lossy, duplicating network. */
export type DropReason =
  /** the message failed validation (`parseMessage`) */
  | 'invalid'
  /** addressed to another node */
  | 'misrouted'
  /** this node has no state for the transaction and nothing to answer */
  | 'unknown-transaction'
  /** a repeat of a message already handled */
  | 'duplicate'
  /** the sender is not a participant of the transaction */
  | 'not-a-participant'
  /** the sender is not the transaction's coordinator */
  | 'not-the-coordinator'
  /** a message this node does not expect in its current state (a coordinator sent `prepare`, a `commit` before the vote) */
  | 'unexpected'
  /** the message contradicts an outcome already decided here (evidence of a bug or a forged sender) */
  | 'conflicts-with-outcome'
  /** a request for an outcome that is not decided yet */
  | 'undecided'
  /** a cooperative-termination request this participant cannot answer: it is in doubt too, or voted read-only */
  | 'cannot-answer'
  /** from an earlier life of its sender than the one the transaction is bound to (see `PrepareTicket`) */
  | 'stale'

/** Events of a coordinator core. */
export type CoordinatorCoreEvent =
  /** The outcome is final (for `commit`: the commit record is durable). */
  | { readonly type: 'decided'; readonly txId: TxId; readonly decision: 'commit' }
  | {
      readonly type: 'decided'
      readonly txId: TxId
      readonly decision: 'abort'
      readonly reason: AbortReason
    }
  /** Nothing more to do: every participant that voted yes acked (or the transaction aborted). */
  | { readonly type: 'completed'; readonly txId: TxId; readonly decision: Decision }
  /**
   * A participant reports that an operator resolved the transaction by hand (`resolveManually`)
   * the other way: `decision` is this coordinator's, `heuristic` the participant's. Needs a human.
   */
  | {
      readonly type: 'heuristic-mismatch'
      readonly txId: TxId
      readonly participant: NodeId
      readonly decision: Decision
      readonly heuristic: Decision
    }
  | { readonly type: 'message-dropped'; readonly reason: DropReason; readonly message: unknown }

/** Events of a participant core. */
export type ParticipantCoreEvent =
  /** The vote left this node (a `yes` only after the prepared record was durable). */
  | { readonly type: 'voted'; readonly txId: TxId; readonly vote: Vote }
  /**
   * This participant refused a request to prepare (or to abort, one-phase) a transaction it does
   * not know, because the request was meant for an earlier life of it or is older than what it
   * forgot: a stale or duplicated copy. It did nothing else; the coordinator aborts the
   * transaction unless it was only learning this participant's incarnation.
   */
  | { readonly type: 'refused'; readonly txId: TxId; readonly coordinator: NodeId }
  /**
   * This participant started asking for the outcome of a transaction it voted yes on. Early and
   * usually harmless: the coordinator's `commit` or `abort` is often on its way. See `blocked`.
   */
  | { readonly type: 'in-doubt'; readonly txId: TxId; readonly coordinator: NodeId }
  /**
   * In doubt for longer than cooperative termination allows: the coordinator has been silent for
   * `cooperativeTerminationAfterMs`, the peers were asked too, and one retransmission interval
   * (`retransmitIntervalMs`) later no one had told the outcome. The prepared work stays locked
   * until the coordinator comes back (or an operator resolves it by hand, `resolveManually`);
   * the participant keeps asking. Emitted once per transaction (again after a restart, if it is
   * still blocked). Alert on this one, not on `in-doubt`.
   */
  | {
      readonly type: 'blocked'
      readonly txId: TxId
      readonly coordinator: NodeId
      readonly participants: readonly NodeId[]
      /** How long it had been asking when it was found blocked, by its timers. */
      readonly waitedMs: number
    }
  /** The outcome is durable here; `from` is who told it (the coordinator, a peer, or this node itself). */
  | { readonly type: 'decided'; readonly txId: TxId; readonly decision: Decision; readonly from: NodeId }
  /** The resource applied the outcome. */
  | { readonly type: 'applied'; readonly txId: TxId; readonly decision: Decision }
  /** The real decision (`decision`) differs from the outcome taken here by hand (`heuristic`). Needs a human. */
  | {
      readonly type: 'heuristic-mismatch'
      readonly txId: TxId
      readonly decision: Decision
      readonly heuristic: Decision
    }
  | { readonly type: 'message-dropped'; readonly reason: DropReason; readonly message: unknown }

/**
 * Everything one `step` asks the outside world to do. One function (the runtime's driver) executes
 * it, in this order, and the order is the protocol's safety:
 *
 * 1. append `records` to the log; if `forceRecords`, wait until they are durable;
 * 2. only then send `messages` (a `vote: yes`, `commit` or `ack` is never sent before its record is durable);
 * 3. apply `timers`;
 * 4. start `requests` on the resource;
 * 5. emit `events`.
 */
export interface Ready<Event> {
  /** Records to append, in order. */
  readonly records: readonly LogRecord[]
  /** True when `records` must be durable BEFORE any of `messages` is sent. */
  readonly forceRecords: boolean
  /** Messages to send, after the records (see `forceRecords`). */
  readonly messages: readonly Message[]
  /** Timers to arm or disarm. */
  readonly timers: readonly TimerEffect[]
  /** Resource work to start (participants only). */
  readonly requests: readonly ResourceRequest[]
  /** Observations, emitted last. */
  readonly events: readonly Event[]
}

/** The list of a kind of effect a step did not produce: one shared, frozen empty array. */
const NONE: readonly never[] = Object.freeze([])

/**
 * Accumulates the effects of one step, and is the step's {@link Ready} once built (no second object
 * per step: a step is taken per message, timer and resource answer). Internal to the cores. A list
 * is created on its first effect (most steps produce two or three kinds of effect).
 */
export class ReadyBuilder<Event> implements Ready<Event> {
  records: readonly LogRecord[] = NONE
  forceRecords = false
  messages: readonly Message[] = NONE
  timers: readonly TimerEffect[] = NONE
  requests: readonly ResourceRequest[] = NONE
  events: readonly Event[] = NONE

  /** Appends a record; `force` makes every record of this step durable before any message is sent. */
  persist(record: LogRecord, force: boolean): void {
    this.records = add(this.records, record)
    this.forceRecords ||= force
  }

  /** Queues a message, sent after the records. */
  send(message: Message): void {
    this.messages = add(this.messages, message)
  }

  /** Arms (or re-arms) a timer. */
  setTimer(txId: TxId, timer: TimerKind, delayMs: number): void {
    this.timers = add(this.timers, { type: 'set-timer', txId, timer, delayMs })
  }

  /** Disarms a timer. */
  clearTimer(txId: TxId, timer: TimerKind): void {
    this.timers = add(this.timers, { type: 'clear-timer', txId, timer })
  }

  /** Queues resource work. */
  request(type: ResourceRequest['type'], tx: ResourceRequest['tx']): void {
    this.requests = add(this.requests, { type, tx })
  }

  /** Queues an event. */
  emit(event: Event): void {
    this.events = add(this.events, event)
  }

  /** The finished step: this object, read as a `Ready` (the core adds nothing to it afterwards). */
  build(): Ready<Event> {
    return this
  }
}

/**
 * `list` with `item` added: a new list in place of the shared empty one, and a new two-item list in
 * place of a one-item one — pushing onto a one-item array would give it room for 17 (V8's growth
 * rule), and most lists of a step hold one or two effects.
 */
function add<T>(list: readonly T[], item: T): readonly T[] {
  if (list === NONE) return [item]
  if (list.length === 1) return [list[0] as T, item]
  ;(list as T[]).push(item)
  return list
}
