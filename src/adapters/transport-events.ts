import type { NodeId } from '../core/types.js'
import type {
  AuthenticationRefused,
  PeerHealth,
  PeerReachable,
  PeerUnreachable,
} from './transport-peer-health.js'

/**
 * Why a network transport refused inbound bytes before they reached the protocol:
 *
 * - `oversized`: a frame or body over the size limit (HTTP 413; TCP closes the connection);
 * - `malformed`: not a frame/body of this transport: bad envelope, invalid UTF-8, not JSON,
 *   JSON nested too deeply (HTTP 400; TCP closes the connection for a bad envelope);
 * - `invalid-message`: JSON that `parseMessage` rejects: wrong types, unknown message type (HTTP 400);
 * - `misaddressed`: a message whose `to` is not this node (HTTP 400);
 * - `missing-signature`, `bad-signature`, `stale-timestamp`, `unknown-peer` (no key for the
 *   claimed sender): authentication failed (HTTP 401; TCP closes the connection);
 * - `misattributed`: a message whose `from` is not the authenticated sender (HTTP 403; TCP closes
 *   the connection);
 * - `body-consumed` (HTTP only): a body parser mounted ahead of the handler read the body, so
 *   nothing can be checked — a set-up mistake on this node, answered 500 with how to fix it; the
 *   sender drops the batch as `peer-misconfigured` instead of retrying.
 */
export type InboundRejectionReason =
  | 'oversized'
  | 'malformed'
  | 'invalid-message'
  | 'misaddressed'
  | 'missing-signature'
  | 'bad-signature'
  | 'stale-timestamp'
  | 'unknown-peer'
  | 'misattributed'
  | 'body-consumed'

/** Every {@link InboundRejectionReason}. */
export const INBOUND_REJECTION_REASONS: readonly InboundRejectionReason[] = [
  'oversized',
  'malformed',
  'invalid-message',
  'misaddressed',
  'missing-signature',
  'bad-signature',
  'stale-timestamp',
  'unknown-peer',
  'misattributed',
  'body-consumed',
]

/** The `rejected` event: inbound bytes refused at the edge. Nothing of them reached the protocol. */
export interface InboundRejection {
  readonly reason: InboundRejectionReason
  /** What exactly was wrong, for a log line. */
  readonly detail: string
  /** The remote socket address, `ip:port`. */
  readonly remote: string
}

/**
 * Why a network transport discarded an outbound message without delivering it:
 * - `queue-full`: the peer's bounded queue overflowed, so its oldest message was dropped;
 * - `rejected-by-peer`: the peer answered that it will never accept the batch (an HTTP 4xx);
 * - `peer-misconfigured`: the peer's server is set up so that it cannot read any request (HTTP:
 *   a body parser consumed the body before the twopc handler); retrying cannot help, so the
 *   batch is not retried, and the `detail` says how to fix the peer;
 * - `closed`: the transport closed with the message still queued.
 */
export type OutboundDropReason = 'queue-full' | 'rejected-by-peer' | 'peer-misconfigured' | 'closed'

/** The `dropped` event. The protocol retransmits whatever it still needs. */
export interface OutboundDrop {
  readonly reason: OutboundDropReason
  /** The peer the messages were for. */
  readonly to: NodeId
  /** How many messages were dropped. */
  readonly count: number
  /** What happened, for a log line. */
  readonly detail: string
}

/** Events of `TcpTransport` and `HttpTransport` (eventemitter3). */
export interface NetworkTransportEvents {
  /** Inbound bytes were refused at the edge; counted in `stats().rejected`. */
  rejected: [InboundRejection]
  /** Outbound messages were discarded; counted in `stats().dropped`. */
  dropped: [OutboundDrop]
  /** A peer that was reachable (or not tried yet) failed an attempt; see `stats().peers`. */
  'peer-unreachable': [PeerUnreachable]
  /** A peer succeeded again after `peer-unreachable`. */
  'peer-reachable': [PeerReachable]
  /** A peer refused our authentication (TCP and HTTP alike); each refusal is reported. */
  'authentication-refused': [AuthenticationRefused]
}

/** Counters both network transports keep, from their `stats()`. */
export interface NetworkTransportStats {
  /** Messages handed to the network: written to a socket (TCP) or accepted by the peer (HTTP). */
  readonly messagesSent: number
  /** Messages that passed every check and were handed to the handler. */
  readonly messagesReceived: number
  /** Socket writes (TCP) or successful requests (HTTP). `messagesSent / writes` is the coalescing factor. */
  readonly writes: number
  /** Inbound frames or requests refused, by reason. */
  readonly rejected: Readonly<Record<InboundRejectionReason, number>>
  /** Outbound messages discarded, by reason. */
  readonly dropped: Readonly<Record<OutboundDropReason, number>>
  /** Each configured peer's health, by node id: whether the last attempt to send to it worked, and why not. */
  readonly peers: { readonly [nodeId: string]: PeerHealth }
}

/** Mutable counters behind {@link NetworkTransportStats}, shared by a transport and its peer links. */
export class TransportCounters {
  messagesSent = 0
  messagesReceived = 0
  writes = 0
  readonly rejected = Object.fromEntries(INBOUND_REJECTION_REASONS.map((reason) => [reason, 0])) as Record<
    InboundRejectionReason,
    number
  >
  readonly dropped: Record<OutboundDropReason, number> = {
    'queue-full': 0,
    'rejected-by-peer': 0,
    'peer-misconfigured': 0,
    closed: 0,
  }

  /** A copy, safe to hand out, with the health of each peer in `peers`. */
  snapshot(
    peers: Iterable<readonly [NodeId, { health: { snapshot(): PeerHealth } }]>,
  ): NetworkTransportStats {
    const health: Record<string, PeerHealth> = {}
    for (const [peer, link] of peers) health[peer] = link.health.snapshot()
    return {
      messagesSent: this.messagesSent,
      messagesReceived: this.messagesReceived,
      writes: this.writes,
      rejected: { ...this.rejected },
      dropped: { ...this.dropped },
      peers: health,
    }
  }
}
