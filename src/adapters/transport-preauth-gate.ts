import type { Socket } from 'node:net'
import { integerInRange } from './transport-options.js'
import { PreAuthenticationBudget } from './transport-preauth-budget.js'

/** Options of the network transports for connections that have not authenticated yet. */
export interface PreAuthenticationOptions {
  /**
   * How long an inbound connection may stay open before something it sent passes authentication
   * (with `authentication: 'none'`, before it sends a well-formed frame or request); then it is
   * closed. A peer sends as soon as it connects, so this only cuts off idle and byte-at-a-time
   * connections. For `HttpTransport`, it applies to the server its `listen()` starts.
   * @default 5000
   */
  readonly authenticationTimeoutMs?: number
  /**
   * Most inbound connections held open before they authenticate. One more closes the oldest
   * connection of the remote address holding the most of them, so a flood cannot exhaust sockets,
   * and a peer that connects still gets in unless the flood comes from more addresses than this.
   * Authenticated connections do not count.
   * @default 64
   */
  readonly maxUnauthenticatedConnections?: number
  /**
   * Most unauthenticated inbound connections from one remote IP address; one more closes that
   * address's oldest. Raise it if many peers reach this node through one address (a NAT).
   * @default 8
   */
  readonly maxUnauthenticatedConnectionsPerAddress?: number
}

/** {@link PreAuthenticationOptions} with defaults applied. */
export interface ResolvedPreAuthentication {
  readonly authenticationTimeoutMs: number
  readonly maxUnauthenticatedConnections: number
  readonly maxUnauthenticatedConnectionsPerAddress: number
}

/** Validates {@link PreAuthenticationOptions} and applies defaults. */
export function resolvePreAuthentication(options: PreAuthenticationOptions): ResolvedPreAuthentication {
  const { authenticationTimeoutMs, maxUnauthenticatedConnections, maxUnauthenticatedConnectionsPerAddress } =
    options
  return {
    authenticationTimeoutMs: integerInRange(
      'authenticationTimeoutMs',
      authenticationTimeoutMs,
      5000,
      1,
      600_000,
    ),
    maxUnauthenticatedConnections: integerInRange(
      'maxUnauthenticatedConnections',
      maxUnauthenticatedConnections,
      64,
      1,
      65_536,
    ),
    maxUnauthenticatedConnectionsPerAddress: integerInRange(
      'maxUnauthenticatedConnectionsPerAddress',
      maxUnauthenticatedConnectionsPerAddress,
      8,
      1,
      65_536,
    ),
  }
}

/**
 * Why an inbound connection was closed before it authenticated:
 * - `timed-out`: nothing passed authentication within `authenticationTimeoutMs`;
 * - `over-budget`: the oldest unauthenticated connection (of its address, or of the address
 *   holding the most), closed to make room (`maxUnauthenticatedConnections`, `…PerAddress`);
 * - `over-limit` (TCP): refused on arrival, `maxInboundConnections` being open.
 */
export type UnauthenticatedCloseReason = 'timed-out' | 'over-budget' | 'over-limit'

/** What a transport's `stats()` says about connections before authentication. */
export interface PreAuthenticationStats {
  /** Inbound connections open now that have not authenticated yet. */
  readonly unauthenticatedConnections: number
  /** Inbound connections closed before they authenticated, by reason. */
  readonly unauthenticatedClosed: Readonly<Record<UnauthenticatedCloseReason, number>>
}

/**
 * Holds a transport's inbound sockets to a deadline and a {@link PreAuthenticationBudget} until
 * they authenticate. The transport calls {@link admit} for each accepted socket and
 * {@link authenticated} when something it sent passes authentication; the gate destroys the
 * sockets that time out or are pushed out, and tells `onClosed` at once.
 */
export class PreAuthenticationGate {
  private readonly budget: PreAuthenticationBudget<Socket>
  private readonly deadlines = new Map<Socket, NodeJS.Timeout>()
  private readonly closed: Record<UnauthenticatedCloseReason, number> = {
    'timed-out': 0,
    'over-budget': 0,
    'over-limit': 0,
  }

  constructor(
    private readonly settings: ResolvedPreAuthentication,
    private readonly onClosed: (socket: Socket) => void = () => {},
  ) {
    this.budget = new PreAuthenticationBudget(
      settings.maxUnauthenticatedConnections,
      settings.maxUnauthenticatedConnectionsPerAddress,
    )
  }

  /** Starts `socket`'s deadline and admits it to the budget, closing whatever that pushes out. */
  admit(socket: Socket): void {
    socket.once('close', () => this.authenticated(socket))
    const deadline = setTimeout(() => this.close(socket, 'timed-out'), this.settings.authenticationTimeoutMs)
    this.deadlines.set(socket, deadline.unref())
    for (const evicted of this.budget.admit(socket, socket.remoteAddress ?? ''))
      this.close(evicted, 'over-budget')
  }

  /** `socket` authenticated (or closed): it leaves the deadline and the budget. Idempotent; a no-op for sockets never admitted. */
  authenticated(socket: Socket): void {
    clearTimeout(this.deadlines.get(socket))
    this.deadlines.delete(socket)
    this.budget.release(socket)
  }

  /** Counts a connection the server refused on arrival (TCP's `maxInboundConnections`). */
  refusedOnArrival(): void {
    this.closed['over-limit'] += 1
  }

  /** A copy of the counters, safe to hand out. */
  snapshot(): PreAuthenticationStats {
    return { unauthenticatedConnections: this.budget.size, unauthenticatedClosed: { ...this.closed } }
  }

  private close(socket: Socket, reason: UnauthenticatedCloseReason): void {
    this.authenticated(socket)
    this.closed[reason] += 1
    socket.destroy()
    this.onClosed(socket)
  }
}
