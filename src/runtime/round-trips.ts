import type { Message, MessageType } from '../core/messages.js'
import type { TimerKind } from '../core/ready.js'
import type { TxId } from '../core/types.js'

/** Which requests a node times, which answers end them, and which of its timers they slow down. */
export interface RoundTripRole {
  /** Request type → the message types that answer it. */
  readonly answers: Partial<Record<MessageType, readonly MessageType[]>>
  /** The timer that resends the requests. */
  readonly timer: TimerKind
}

/** The coordinator: a prepare is answered by a vote, a commit by an ack; `retransmit` resends them. */
export const COORDINATOR_ROUND_TRIPS: RoundTripRole = {
  answers: { prepare: ['vote'], commit: ['ack'] },
  timer: 'retransmit',
}

/** A participant: a `yes` vote is answered by the outcome; `decision-request` asks again. */
export const PARTICIPANT_ROUND_TRIPS: RoundTripRole = {
  answers: { vote: ['commit', 'abort'] },
  timer: 'decision-request',
}

/** Most requests timed at once (one per transaction); past it new ones are not timed. */
const MAX_TIMED = 100_000

/** One request being timed: the first one of a transaction's round, to one node. */
interface Timed {
  readonly to: string
  readonly type: MessageType
  readonly at: number
}

/**
 * A node's retransmission timeout, adapted to the round trips it measures — as TCP's RTO
 * (RFC 6298: `SRTT + 4 × RTTVAR`). A transaction's first request of a round (a coordinator's
 * `prepare`, then its `commit`; a participant's `yes` vote) to one node is timed until that node
 * answers. The timeout is the least the node's resend timer waits: under load, when queues make
 * round trips long, retransmissions wait for them instead of adding to the load. With no sample
 * yet, or on a quiet network, the protocol's own backoff (`retransmitIntervalMs` doubling up to
 * `retransmitIntervalMsMax`) rules; the timeout never exceeds `retransmitIntervalMsMax`.
 *
 * A request sent again before its answer came is timed from its first copy (an upper bound on the
 * round trip). Karn's rule — no sample at all — would starve the estimate exactly when it matters:
 * once round trips outgrow the backoff, every request is resent before it is answered. The upper
 * bound errs towards waiting longer, the safe side under load; on a lossy network it can only
 * raise the timeout to its cap.
 *
 * It reads time only through the `now` it is given; the core never sees it (timer delays are the
 * runtime's business, and every checker fires timers at any time anyway).
 */
export class RoundTrips {
  private readonly timed = new Map<TxId, Timed>()
  private srtt: number | undefined
  private rttvar = 0

  /** @param maxMs - the cap on the timeout (`retransmitIntervalMsMax`) */
  constructor(
    readonly role: RoundTripRole,
    private readonly maxMs: number,
  ) {}

  /** The least delay of a resend now, in ms (0 before the first sample). */
  get timeoutMs(): number {
    return this.srtt === undefined ? 0 : Math.min(this.maxMs, Math.round(this.srtt + 4 * this.rttvar))
  }

  /** A message left at `now`. */
  sent(message: Message, now: number): void {
    if (this.role.answers[message.type] === undefined) return
    if (message.type === 'vote' && (message.vote !== 'yes' || message.onePhase === true)) return
    const timed = this.timed.get(message.txId)
    if (timed === undefined ? this.timed.size < MAX_TIMED : timed.type !== message.type)
      this.timed.set(message.txId, { to: message.to, type: message.type, at: now })
  }

  /** A message arrived at `now`: if it answers the request timed, that round trip is a sample. */
  received(message: Message, now: number): void {
    const timed = this.timed.get(message.txId)
    if (timed === undefined || !this.role.answers[timed.type]?.includes(message.type)) return
    this.timed.delete(message.txId)
    if (message.from === timed.to) this.sample(now - timed.at)
  }

  /** The transaction finished: stop timing it. */
  finished(txId: TxId): void {
    this.timed.delete(txId)
  }

  private sample(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms
      this.rttvar = ms / 2
      return
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms)
    this.srtt = 0.875 * this.srtt + 0.125 * ms
  }
}
