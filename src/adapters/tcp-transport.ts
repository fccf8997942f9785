import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { EventEmitter } from 'eventemitter3'
import { TwopcError } from '../core/errors.js'
import type { Message } from '../core/messages.js'
import { invalidOption } from '../core/options.js'
import type { NodeId } from '../core/types.js'
import { isId } from '../core/validate.js'
import { type Clock, systemClock, type Transport } from '../runtime/interfaces.js'
import { encodeReply, FrameDecoder, MAX_ENVELOPE_BYTES, splitFrame } from './frame-codec.js'
import { type Authenticator, type AuthOptions, resolveAuth } from './hmac-auth.js'
import { admitMessages } from './inbound-gate.js'
import { routeOutbound } from './outbound-message.js'
import { TcpPeerLink } from './tcp-peer-link.js'
import {
  type InboundRejectionReason,
  type NetworkTransportEvents,
  type NetworkTransportStats,
  type OutboundDrop,
  TransportCounters,
} from './transport-events.js'
import {
  type HostPort,
  integerInRange,
  listenOn,
  nodeId,
  type OutboundOptions,
  parseHostPort,
  parsePeers,
  type ResolvedOutbound,
  requireObject,
  resolveOutbound,
} from './transport-options.js'
import {
  PreAuthenticationGate,
  type PreAuthenticationOptions,
  type PreAuthenticationStats,
  type ResolvedPreAuthentication,
  resolvePreAuthentication,
} from './transport-preauth-gate.js'

/**
 * Options of {@link TcpTransport.listen}. Validated up front; see also {@link AuthOptions},
 * {@link OutboundOptions} and {@link PreAuthenticationOptions}.
 */
export interface TcpTransportOptions extends AuthOptions, OutboundOptions, PreAuthenticationOptions {
  /** This node's id: written as the sender of every frame; inbound messages must be addressed to it. */
  readonly id: NodeId
  /**
   * Where to accept connections, `'host:port'`. Port 0 lets the OS pick one; read it back from
   * {@link TcpTransport.address}.
   * @example '127.0.0.1:7001'
   */
  readonly listen: string
  /**
   * Where each peer listens: `{ [nodeId]: 'host:port' }`. Add or move peers later with
   * {@link TcpTransport.setPeer}.
   * @example { coord: '10.0.0.1:7000', 'bank-b': '10.0.0.3:7002' }
   */
  readonly peers?: { readonly [nodeId: string]: string }
  /**
   * Largest frame accepted or sent, in bytes (envelope plus message JSON). A peer that announces a
   * larger frame is disconnected; sending a larger message throws.
   * @default 1048576 (1 MiB)
   */
  readonly maxFrameBytes?: number
  /**
   * How long one connection attempt may take before it counts as failed and is retried.
   * @default 5000
   */
  readonly connectTimeoutMs?: number
  /**
   * Most inbound connections open at once; more are refused by the server.
   * @default 1024
   */
  readonly maxInboundConnections?: number
}

/** Counters of a {@link TcpTransport}. `messagesSent / writes` is the coalescing factor. */
export interface TcpTransportStats extends NetworkTransportStats, PreAuthenticationStats {
  /** Inbound connections open now. */
  readonly inboundConnections: number
}

/** An inbound connection: who it has proven to be, once a frame passed. */
interface Inbound {
  readonly socket: Socket
  readonly remote: string
  readonly decoder: FrameDecoder
  sender: NodeId | undefined
  /** A frame passed authentication and the sender was told so (`accepted` reply). */
  authenticated: boolean
  /**
   * The last envelope line read on this connection, as bytes and parsed: without a secret every
   * envelope of a sender is the same line, which is then parsed once per connection.
   */
  lastEnvelope: { readonly bytes: Buffer; readonly parsed: Envelope } | undefined
}

/** How long a refused connection may take to read our `refused` reply and close before it is destroyed. */
const REFUSAL_GRACE_MS = 1000

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * A {@link Transport} over TCP for Node (`twopc/node`): length-prefixed frames (see
 * `frame-codec.ts`), one persistent outbound connection per peer, optional HMAC authentication.
 *
 * **Sending** (`send`): the message is queued for its peer and leaves with everything else sent in
 * the same turn (the runtime's sends of one callback and its microtasks), in one socket write. The connection is opened on first use and
 * re-opened with capped exponential backoff (`retryDelayMs`…`retryDelayMsMax`) while messages
 * wait. The queue is bounded (`maxQueuedMessages`, `maxQueuedBytes`): when a peer is slow or down,
 * the **oldest** messages are dropped, counted and reported as `dropped` events — the protocol
 * retransmits what it still needs. `send` never blocks and throws only for a caller bug (an
 * unknown peer, a message over the size limit) or after `close()`.
 *
 * **Receiving**: each frame is size-checked, authenticated (when a secret is set), parsed and
 * validated with `parseMessage` (once: it is handed over deep-frozen, which the runtime's own
 * `parseMessage` recognizes), and checked for `from` = the authenticated sender and `to` = this
 * node, before it reaches the handler. Refused frames are counted and reported as `rejected`
 * events with a reason; oversized frames, bad envelopes and authentication failures also close the
 * connection (see {@link InboundRejectionReason}), after telling the sender why. A connection
 * serves one sender: the first accepted frame pins it.
 *
 * **Before authentication** a connection is on a budget: closed if no frame passes authentication
 * within `authenticationTimeoutMs`, and at most `maxUnauthenticatedConnections` of them
 * (`…PerAddress` from one IP) are held, the oldest closed to make room — so idle and
 * byte-at-a-time connections cannot starve the peers (counted in `stats().unauthenticatedClosed`).
 *
 * Fails closed: without a usable `secret` or `secrets` it refuses to start, unless
 * `authentication: 'none'` says to accept messages from anyone (see {@link AuthOptions}).
 *
 * @example
 * ```ts
 * import { TcpTransport } from 'twopc/node'
 * const transport = await TcpTransport.listen({
 *   id: 'bank-a',
 *   listen: '0.0.0.0:7001',
 *   peers: { coord: '10.0.0.1:7000', 'bank-b': '10.0.0.3:7002' },
 *   secret: process.env.TWOPC_SECRET,
 * })
 * const participant = new Participant({ id: 'bank-a', transport, log, resource })
 * ```
 */
export class TcpTransport extends EventEmitter<NetworkTransportEvents> implements Transport {
  /** This node's id. */
  readonly id: NodeId
  /** The bound address, `host:port` — with the port the OS picked when listening on port 0. Kept after `close()`. */
  readonly address: string
  /** The largest message (bytes of its JSON) `send` accepts: `maxFrameBytes` minus room for the envelope. */
  readonly maxMessageBytes: number
  private readonly counters = new TransportCounters()
  private readonly links = new Map<NodeId, TcpPeerLink>()
  private readonly inbound = new Map<Socket, Inbound>()
  private readonly gate: PreAuthenticationGate
  private handler: ((message: unknown) => void) | undefined
  private closing: Promise<void> | undefined

  private constructor(
    private readonly server: Server,
    private readonly auth: Authenticator | undefined,
    private readonly settings: {
      readonly id: NodeId
      readonly maxFrameBytes: number
      readonly connectTimeoutMs: number
      readonly outbound: ResolvedOutbound
      readonly clock: Pick<Clock, 'now'>
      readonly preAuthentication: ResolvedPreAuthentication
    },
  ) {
    super()
    this.gate = new PreAuthenticationGate(settings.preAuthentication, (socket) => this.inbound.delete(socket))
    this.id = settings.id
    const bound = server.address() as AddressInfo
    this.address =
      bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`
    this.maxMessageBytes = settings.maxFrameBytes - MAX_ENVELOPE_BYTES - 1
    server.on('connection', (socket) => this.accept(socket))
    server.on('drop', () => this.gate.refusedOnArrival())
  }

  /**
   * Validates `options`, starts listening and resolves with the transport once the port is bound.
   * Call it once per node, before handing the transport to a `Coordinator` or `Participant`.
   *
   * @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected
   * (synchronously checked, reported as a rejection); `LISTEN_FAILED` (naming the address and the
   * system's reason, such as `EADDRINUSE`, with the system error as `cause`) if it cannot be bound.
   */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    requireObject('options', options)
    const id = nodeId('id', options.id)
    const address = parseHostPort('listen', options.listen, 0)
    const peers = parsePeers(options.peers, (name, value) => parseHostPort(name, value, 1))
    const maxFrameBytes = integerInRange('maxFrameBytes', options.maxFrameBytes, 1024 * 1024, 4096, 2 ** 30)
    const connectTimeoutMs = integerInRange('connectTimeoutMs', options.connectTimeoutMs, 5000, 1, 600_000)
    const maxInboundConnections = integerInRange(
      'maxInboundConnections',
      options.maxInboundConnections,
      1024,
      1,
      1_000_000,
    )
    const preAuthentication = resolvePreAuthentication(options)
    const outbound = resolveOutbound(options)
    const auth = resolveAuth(options, id)
    for (const peer of peers.keys()) TcpTransport.requireKey(auth, peer)
    const server = createServer({ noDelay: true })
    server.maxConnections = maxInboundConnections
    await listenOn(server, address)
    const clock = options.clock ?? systemClock
    const transport = new TcpTransport(server, auth, {
      id,
      maxFrameBytes,
      connectTimeoutMs,
      outbound,
      clock,
      preAuthentication,
    })
    for (const [peer, peerAddress] of peers) transport.link(peer, peerAddress)
    return transport
  }

  private static requireKey(auth: Authenticator | undefined, peer: NodeId): void {
    if (auth !== undefined && !auth.knows(peer)) {
      invalidOption(`secrets.${peer}`, 'a secret (or set `secret` for every peer)', undefined)
    }
  }

  /**
   * Sets (or moves) the address of peer `id`, `'host:port'`. Moving a peer closes the old connection
   * and drops what was queued for it. Setting the same address again does nothing.
   * @throws TwopcError `INVALID_OPTIONS` for a bad id or address, or a peer without a secret when
   * authentication is on; `CLOSED` after `close()`.
   */
  setPeer(id: NodeId, address: string): void {
    this.assertOpen()
    nodeId('id', id)
    const parsed = parseHostPort(`peers.${id}`, address, 1)
    TcpTransport.requireKey(this.auth, id)
    const previous = this.links.get(id)
    if (previous?.target === `${parsed.host}:${parsed.port}`) return
    void previous?.close()
    this.link(id, parsed)
  }

  /**
   * Queues `message` for peer `message.to`; it leaves at `process.nextTick`, with everything else
   * sent to that peer before then (the runtime's sends of one turn share a write). Called by
   * the runtime. Never blocks, and never throws because the peer is down.
   * @throws TwopcError `INVALID_MESSAGE` if `message.to` has no address (see `peers`) or the message
   * is over {@link maxMessageBytes}; `CLOSED` after `close()`.
   */
  send(message: Message): void {
    this.assertOpen()
    const { link, bytes } = routeOutbound(this.links, message, this.maxMessageBytes, {
      location: 'address',
      limitOption: 'maxFrameBytes',
    })
    link.enqueue(bytes)
  }

  /**
   * Sets the one handler for inbound messages. Called by the runtime at start. Each message has
   * passed `parseMessage` and every check, and is deep-frozen: the runtime's `parseMessage` does
   * not validate it again.
   */
  onMessage(handler: (message: unknown) => void): void {
    this.handler = handler
  }

  /** Counters since the transport started listening, and each peer's health. */
  stats(): TcpTransportStats {
    return {
      ...this.counters.snapshot(this.links),
      ...this.gate.snapshot(),
      inboundConnections: this.inbound.size,
    }
  }

  /**
   * Stops listening and reconnecting, destroys inbound connections (nothing more is delivered),
   * writes what is queued to connected peers and ends those connections; drops the rest. Leaves no
   * socket or timer behind. Idempotent: every call returns the same promise. The runtime calls it
   * from the node's `close()`.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.handler = undefined
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.inbound.keys()) socket.destroy()
    this.closing = Promise.all([stopped, ...[...this.links.values()].map((link) => link.close())]).then(
      () => {},
    )
    return this.closing
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new TwopcError('CLOSED', `TcpTransport of ${this.id} is closed`)
  }

  private link(peer: NodeId, address: HostPort): void {
    this.links.set(
      peer,
      new TcpPeerLink(peer, address, {
        self: this.id,
        auth: this.auth,
        outbound: this.settings.outbound,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        counters: this.counters,
        drop: (drop) => this.dropped(drop),
        clock: this.settings.clock,
        reports: {
          unreachable: (event) => this.emit('peer-unreachable', event),
          reachable: (event) => this.emit('peer-reachable', event),
          authenticationRefused: (event) => this.emit('authentication-refused', event),
        },
      }),
    )
  }

  private dropped(drop: OutboundDrop): void {
    this.counters.dropped[drop.reason] += drop.count
    this.emit('dropped', drop)
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy()
      return
    }
    const connection: Inbound = {
      socket,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      decoder: new FrameDecoder(this.settings.maxFrameBytes),
      sender: undefined,
      authenticated: false,
      lastEnvelope: undefined,
    }
    this.inbound.set(socket, connection)
    socket.on('error', () => {}) // a reset by the peer: 'close' follows
    socket.on('close', () => this.inbound.delete(socket))
    socket.on('data', (chunk: Buffer) => this.receive(connection, chunk))
    this.gate.admit(socket)
  }

  private receive(connection: Inbound, chunk: Buffer): void {
    const { frames, oversizedBytes } = connection.decoder.push(chunk)
    for (const frame of frames) {
      if (!connection.socket.writable) return // refused, or closing
      this.receiveFrame(connection, frame)
    }
    if (oversizedBytes !== undefined && connection.socket.writable) {
      this.reject(
        connection,
        'oversized',
        `frame of ${oversizedBytes} bytes exceeds the limit of ${this.settings.maxFrameBytes}`,
        true,
      )
    }
  }

  private receiveFrame(connection: Inbound, frame: Buffer): void {
    const parts = splitFrame(frame)
    const envelope = parts === undefined ? undefined : this.envelopeOf(connection, parts.envelope)
    if (parts === undefined || envelope === undefined) {
      this.reject(
        connection,
        'malformed',
        'the frame does not start with an envelope line naming its sender',
        true,
      )
      return
    }
    if (connection.sender !== undefined && envelope.from !== connection.sender) {
      const detail = `frame from ${JSON.stringify(envelope.from)} on a connection of ${JSON.stringify(connection.sender)}`
      this.reject(connection, 'misattributed', detail, true)
      return
    }
    const failure = this.auth?.verify(
      { from: envelope.from, timestamp: envelope.ts, signature: envelope.sig },
      parts.message,
    )
    if (failure !== undefined) {
      this.reject(connection, failure, `frame claiming to come from ${JSON.stringify(envelope.from)}`, true)
      return
    }
    if (!connection.authenticated) {
      connection.authenticated = true
      this.gate.authenticated(connection.socket)
      connection.socket.write(encodeReply({ accepted: true }))
    }
    const admission = admitMessages(parts.message, { self: this.id, sender: envelope.from, batch: false })
    if (!admission.ok) {
      // The frame was well framed and authenticated: drop it, keep the connection — unless the
      // authenticated sender lied about `from`.
      this.reject(connection, admission.reason, admission.detail, admission.reason === 'misattributed')
      return
    }
    connection.sender = envelope.from
    for (const message of admission.messages) {
      if (this.handler === undefined) return
      this.counters.messagesReceived += 1
      this.handler(message)
    }
  }

  /** The envelope line `bytes` parsed, or `undefined`; the same line as the last one is not parsed again. */
  private envelopeOf(connection: Inbound, bytes: Buffer): Envelope | undefined {
    const last = connection.lastEnvelope
    if (last?.bytes.equals(bytes)) return last.parsed
    const parsed = parseEnvelope(bytes)
    // Signed lines differ frame by frame: only an unsigned one is kept (a copy: `bytes` is a view
    // of the socket's chunk).
    if (parsed !== undefined && parsed.sig === undefined)
      connection.lastEnvelope = { bytes: Buffer.from(bytes), parsed }
    return parsed
  }

  /**
   * Counts and reports a refused frame; `close` ends the connection, whose framing or peer cannot
   * be trusted — after telling the sender why (a `refused` reply), so that a wrong secret shows on
   * the sending side too. Bytes still arriving are ignored; a sender that does not close within
   * {@link REFUSAL_GRACE_MS} is cut off.
   */
  private reject(connection: Inbound, reason: InboundRejectionReason, detail: string, close: boolean): void {
    this.counters.rejected[reason] += 1
    if (close) {
      const { socket } = connection
      socket.removeAllListeners('data')
      socket.resume()
      socket.end(encodeReply({ refused: reason }))
      const timer = setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    }
    this.emit('rejected', { reason, detail, remote: connection.remote })
  }
}

/** A frame's envelope line: its sender and, when signed, the timestamp and signature (unchecked). */
interface Envelope {
  readonly from: NodeId
  readonly ts: unknown
  readonly sig: unknown
}

/** The envelope line of a frame, or `undefined` if it is not a JSON object with a valid `from`. */
function parseEnvelope(bytes: Buffer): Envelope | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes))
    if (typeof value !== 'object' || value === null) return undefined
    const { from, ts, sig } = value as Record<string, unknown>
    return isId(from) ? { from, ts, sig } : undefined
  } catch {
    return undefined
  }
}
