import type { NodeId } from '../core/types.js'
import type { Clock } from '../runtime/interfaces.js'
import type { InboundRejectionReason } from './transport-events.js'

/**
 * How one peer looks from this node's sending side, in `stats().peers[peerId]`.
 *
 * An attempt succeeds when the peer accepted what we sent: an HTTP 2xx, or (TCP) the peer's
 * acknowledgement that our first frame on a connection passed its authentication. It fails when
 * the peer cannot be reached (refused, timed out, reset), answers an HTTP error, or refuses our
 * frames or requests (a wrong secret, a body parser ahead of the HTTP handler).
 */
export interface PeerHealth {
  /**
   * `false` from a failed attempt until the next successful one; `true` otherwise — including
   * before the first attempt (then {@link lastSuccessAt} is `undefined`).
   */
  readonly reachable: boolean
  /**
   * The most recent failure, for a log line or an alert — kept after the peer recovers, so
   * compare with {@link reachable}. `undefined` if no attempt ever failed.
   * @example 'refused: bad-signature'
   */
  readonly lastError: string | undefined
  /** Failed attempts since the last successful one (0 when {@link reachable}). */
  readonly consecutiveFailures: number
  /** When an attempt last succeeded (the transport's `clock`, ms), or `undefined` if none has. */
  readonly lastSuccessAt: number | undefined
}

/** The `peer-unreachable` event: an attempt to reach a reachable peer failed. */
export interface PeerUnreachable {
  readonly peer: NodeId
  /** What failed, as in {@link PeerHealth.lastError}. */
  readonly error: string
}

/** The `peer-reachable` event: an attempt succeeded after {@link PeerUnreachable}. */
export interface PeerReachable {
  readonly peer: NodeId
  /** Failed attempts before this success. */
  readonly failures: number
}

/** The inbound rejection reasons that mean "your authentication failed". */
export type AuthenticationFailure = Extract<
  InboundRejectionReason,
  'missing-signature' | 'bad-signature' | 'stale-timestamp' | 'unknown-peer'
>

const AUTHENTICATION_FAILURES: ReadonlySet<string> = new Set<AuthenticationFailure>([
  'missing-signature',
  'bad-signature',
  'stale-timestamp',
  'unknown-peer',
])

/** Whether `reason` (as a peer reported it) is an {@link AuthenticationFailure}. */
export function isAuthenticationFailure(reason: unknown): reason is AuthenticationFailure {
  return typeof reason === 'string' && AUTHENTICATION_FAILURES.has(reason)
}

/**
 * The `authentication-refused` event: a peer refused what we sent because it could not
 * authenticate it — a wrong or missing secret on one side, no key for us there, or clocks more
 * than `maxClockSkewMs` apart. Nothing sent to that peer is delivered until it is fixed.
 */
export interface AuthenticationRefused {
  readonly peer: NodeId
  readonly reason: AuthenticationFailure
}

/** Where a {@link PeerHealthTracker} reports state changes: its transport's events. */
export interface PeerHealthReports {
  readonly unreachable: (event: PeerUnreachable) => void
  readonly reachable: (event: PeerReachable) => void
  readonly authenticationRefused: (event: AuthenticationRefused) => void
}

/** Keeps one peer's {@link PeerHealth}; its peer link calls it after every attempt. */
export class PeerHealthTracker {
  private lastError: string | undefined
  private consecutiveFailures = 0
  private lastSuccessAt: number | undefined

  constructor(
    private readonly peer: NodeId,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly reports: PeerHealthReports,
  ) {}

  /** The peer accepted an attempt. */
  succeeded(): void {
    this.lastSuccessAt = this.clock.now()
    const failures = this.consecutiveFailures
    this.consecutiveFailures = 0
    if (failures > 0) this.reports.reachable({ peer: this.peer, failures })
  }

  /** An attempt failed with `error` (a short code and what happened). */
  failed(error: string): void {
    this.lastError = error
    this.consecutiveFailures += 1
    if (this.consecutiveFailures === 1) this.reports.unreachable({ peer: this.peer, error })
  }

  /** The peer refused an attempt with `reason` (its `InboundRejectionReason`): a failure, and an event of its own for authentication. */
  refused(reason: string, detail: string): void {
    this.failed(`refused: ${reason}${detail === '' ? '' : ` (${detail})`}`)
    if (isAuthenticationFailure(reason)) this.reports.authenticationRefused({ peer: this.peer, reason })
  }

  /** A copy, safe to hand out. */
  snapshot(): PeerHealth {
    return {
      reachable: this.consecutiveFailures === 0,
      lastError: this.lastError,
      consecutiveFailures: this.consecutiveFailures,
      lastSuccessAt: this.lastSuccessAt,
    }
  }
}
