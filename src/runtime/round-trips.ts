import type { Message, MessageType } from '../core/messages.js'
import type { TimerKind } from '../core/ready.js'
import type { TxId } from '../core/types.js'
import type { Clock } from './interfaces.js'

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

/** One request being timed. */
interface Timed {
  readonly txId: TxId
  readonly to: string
  readonly type: MessageType
  readonly at: number
  /** Sent again before its answer came: the answer may be to either copy, so it is no sample (Karn). */
  resent: boolean
}

/**
 * A node's retransmission timeout, adapted to the round trips it measures — as TCP's RTO
 * (RFC 6298: `SRTT + 4 × RTTVAR`). As in TCP, one request is timed at a time (a coordinator's
 * `prepare` or `commit`, a participant's `yes` vote), until the node it went to answers; then the
 * next request sent is timed. So the estimate takes about one sample per round trip however many
 * transactions are in flight — a sample per request would collapse `RTTVAR` (thousands of equal
 * samples from one busy turn) and leave no margin over the latest round trip. Memory: one entry.
 *
 * The timeout is the least the node's resend timer waits: under load, when queues make round
 * trips long, retransmissions wait for them instead of adding to the load. With no sample yet, or
 * on a quiet network, the protocol's own backoff (`retransmitIntervalMs` doubling up to
 * `retransmitIntervalMsMax`) rules. The timeout never exceeds its cap (`retransmitIntervalMsMax`;
 * for a coordinator also half its `prepareTimeoutMs`, so a lost `prepare` is always resent in time).
 *
 * Karn's rule: a request sent again before its answer came gives no sample (the answer may be to
 * either copy) — so losses do not inflate the estimate. Instead, as TCP does, the timeout backs
 * off: at least twice what the timed request had waited when it was resent, kept for later
 * requests until the next sample. So when round trips outgrow the timeout (a cold start under load)
 * only the first wave of requests is resent early, and the next request timed is answered in time.
 * A request whose transaction ends unanswered (`finished`), or that waits past the cap, stops being
 * timed.
 *
 * It reads time only through the node's clock; the core never sees it (timer delays are the
 * runtime's business, and every checker fires timers at any time anyway).
 */
export class RoundTrips {
  private timed: Timed | undefined
  private srtt: number | undefined
  private rttvar = 0
  /** Twice the longest wait of a request that had to be resent, until the next sample (TCP's backed-off RTO). */
  private backedOff = 0

  /**
   * @param clock - read only when a request is timed or its answer arrives
   * @param maxMs - the cap on the timeout (`retransmitIntervalMsMax`)
   * @param awaited - false for a request of the role's types that no answer follows (a
   *   coordinator's confirmation of a one-phase outcome): it is not timed
   */
  constructor(
    readonly role: RoundTripRole,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly maxMs: number,
    private readonly awaited: (message: Message) => boolean = () => true,
  ) {}

  /** The least delay of a resend now, in ms (0 before the first sample). */
  get timeoutMs(): number {
    const estimate = this.srtt === undefined ? 0 : Math.round(this.srtt + 4 * this.rttvar)
    return Math.min(this.maxMs, Math.max(estimate, this.backedOff))
  }

  /** A message left: timed if it is a request and none is being timed. */
  sent(message: Message): void {
    if (this.role.answers[message.type] === undefined) return
    if (message.type === 'vote' && (message.vote !== 'yes' || message.onePhase === true)) return
    const now = this.clock.now()
    const timed = this.timed
    if (timed !== undefined && now - timed.at <= this.maxMs) {
      if (timed.txId === message.txId && timed.to === message.to && timed.type === message.type) {
        timed.resent = true
        this.backedOff = Math.max(this.backedOff, 2 * (now - timed.at))
      }
      return
    }
    if (!this.awaited(message)) return
    this.timed = { txId: message.txId, to: message.to, type: message.type, at: now, resent: false }
  }

  /** A message arrived: if the node timed answers the request timed, that is a sample. */
  received(message: Message): void {
    const timed = this.timed
    if (timed === undefined || timed.txId !== message.txId || timed.to !== message.from) return
    if (!this.role.answers[timed.type]?.includes(message.type)) return
    this.timed = undefined
    if (!timed.resent) this.sample(this.clock.now() - timed.at)
  }

  /** The transaction ended: if its request was being timed, it no longer is (no sample). */
  finished(txId: TxId): void {
    if (this.timed?.txId === txId) this.timed = undefined
  }

  private sample(ms: number): void {
    this.backedOff = 0
    if (this.srtt === undefined) {
      this.srtt = ms
      this.rttvar = ms / 2
      return
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms)
    this.srtt = 0.875 * this.srtt + 0.125 * ms
  }
}
