import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { EventEmitter } from 'eventemitter3'
import { TwopcError } from '../core/errors.js'
import type { Message } from '../core/messages.js'
import { invalidOption } from '../core/options.js'
import type { NodeId } from '../core/types.js'
import { isId } from '../core/validate.js'
import { type Clock, systemClock, type Transport } from '../runtime/interfaces.js'
import { type Authenticator, type AuthOptions, resolveAuth } from './hmac-auth.js'
import { BODY_CONSUMED, BODY_CONSUMED_FIX, HEADERS, HttpPeerLink } from './http-peer-link.js'
import { admitMessages } from './inbound-gate.js'
import { routeOutbound } from './outbound-message.js'
import {
  type InboundRejectionReason,
  type NetworkTransportEvents,
  type NetworkTransportStats,
  type OutboundDrop,
  TransportCounters,
} from './transport-events.js'
import {
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
  resolvePreAuthentication,
} from './transport-preauth-gate.js'

/**
 * Options of {@link HttpTransport}. Validated by the constructor; see also {@link AuthOptions},
 * {@link OutboundOptions} and {@link PreAuthenticationOptions} (which apply to {@link HttpTransport.listen}'s server).
 */
export interface HttpTransportOptions extends AuthOptions, OutboundOptions, PreAuthenticationOptions {
  /** This node's id: sent as the sender of every request; inbound messages must be addressed to it. */
  readonly id: NodeId
  /**
   * The URL each peer serves its {@link HttpTransport.handler} at: `{ [nodeId]: url }`. Add or move
   * peers later with {@link HttpTransport.setPeer}.
   * @example { coord: 'http://10.0.0.1:8080/twopc', 'bank-b': 'https://bank-b.internal/twopc' }
   */
  readonly peers?: { readonly [nodeId: string]: string }
  /**
   * Largest request body accepted or sent, in bytes. Larger requests are answered 413; a batch is
   * cut to fit, and sending a single larger message throws. Use the same value on every node.
   * @default 1048576 (1 MiB)
   */
  readonly maxBodyBytes?: number
  /**
   * How long one request may take (client side) before it is aborted and retried; also how long
   * the {@link HttpTransport.listen} server waits for a whole request.
   * @default 10000
   */
  readonly requestTimeoutMs?: number
}

/** The HTTP status answered for each refused request. */
const STATUS: Readonly<Record<InboundRejectionReason, number>> = {
  oversized: 413,
  malformed: 400,
  'invalid-message': 400,
  misaddressed: 400,
  'missing-signature': 401,
  'bad-signature': 401,
  'stale-timestamp': 401,
  'unknown-peer': 401,
  misattributed: 403,
  'body-consumed': 500,
}

/** Counters of an {@link HttpTransport}; the pre-authentication ones count {@link HttpTransport.listen}'s server only. */
export interface HttpTransportStats extends NetworkTransportStats, PreAuthenticationStats {}

/** How often the {@link HttpTransport.listen} server enforces its header and request timeouts. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000

function peerUrl(name: string, value: unknown): string {
  let url: URL | undefined
  try {
    url = typeof value === 'string' ? new URL(value) : undefined
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    invalidOption(name, 'an http:// or https:// URL', value)
  }
  return url.href
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * A {@link Transport} over HTTP for Node (`twopc/node`), for services that already serve HTTP.
 *
 * **Receiving**: {@link handler} is a `(req, res)` request listener; mount it in any `node:http`
 * server — and so in Express, Fastify and the like, ahead of any body parser — or let
 * {@link listen} start a server for it (or, behind a raw body parser that leaves the exact bytes
 * as a `Buffer` in `req.body`, after it; any other body parser ahead of it makes every request fail
 * with 500 `body-consumed`, which senders do not retry). It takes a `POST` whose body is a JSON array of messages:
 * at most `maxBodyBytes` (else 413), authenticated when a secret is set (else 401), every message
 * valid (else 400), from the authenticated sender (else 403) and to this node (else 400). A refused
 * request delivers nothing; it is counted and reported as a `rejected` event. Accepted: 204.
 *
 * **Sending**: messages are queued per peer and each peer's queue is drained by one request at a
 * time, a `POST` of everything queued that fits (`node:http` or `node:https`, the connection kept alive).
 * Failed requests are retried with capped backoff; the queue is bounded and drops its oldest
 * messages when full (reported as `dropped` events). `send` never blocks and throws only for a
 * caller bug or after `close()`.
 *
 * Fails closed: without a usable `secret` or `secrets` it refuses to start, unless
 * `authentication: 'none'` says to accept messages from anyone (see {@link AuthOptions}).
 *
 * @example
 * ```ts
 * import { HttpTransport } from 'twopc/node'
 * const transport = new HttpTransport({
 *   id: 'bank-a',
 *   peers: { coord: 'http://10.0.0.1:8080/twopc' },
 *   secret: process.env.TWOPC_SECRET,
 * })
 * app.post('/twopc', transport.handler) // Express, before express.json(); or: await transport.listen('0.0.0.0:8080')
 * ```
 */
export class HttpTransport extends EventEmitter<NetworkTransportEvents> implements Transport {
  /** This node's id. */
  readonly id: NodeId
  /** The largest message (bytes of its JSON) `send` accepts: `maxBodyBytes` minus the array brackets. */
  readonly maxMessageBytes: number
  /**
   * The request listener that receives messages: `(req, res) => void`. Mount it where the URL in
   * the peers' `peers` option points; it answers every path it is given.
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  private readonly auth: Authenticator | undefined
  private readonly maxBodyBytes: number
  private readonly requestTimeoutMs: number
  private readonly outbound: ResolvedOutbound
  private readonly clock: Pick<Clock, 'now'>
  private readonly gate: PreAuthenticationGate
  private readonly counters = new TransportCounters()
  private readonly links = new Map<NodeId, HttpPeerLink>()
  private receiver: ((message: unknown) => void) | undefined
  private server: Server | undefined
  private closing: Promise<void> | undefined

  /**
   * Validates `options`. Opens nothing: mount {@link handler} or call {@link listen} to receive.
   * @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected.
   */
  constructor(options: HttpTransportOptions) {
    super()
    requireObject('options', options)
    this.id = nodeId('id', options.id)
    // Found by review: Node refuses a header value with a character above U+00FF, so such a node
    // could never send; refused here, where it is a clear configuration error.
    if (/[\u0100-\uffff]/.test(this.id)) {
      invalidOption(
        'id',
        `a node id of characters up to U+00FF (it travels in the ${HEADERS.from} header)`,
        this.id,
      )
    }
    const peers = parsePeers(options.peers, peerUrl)
    this.maxBodyBytes = integerInRange('maxBodyBytes', options.maxBodyBytes, 1024 * 1024, 1024, 2 ** 30)
    this.maxMessageBytes = this.maxBodyBytes - 2
    this.requestTimeoutMs = integerInRange('requestTimeoutMs', options.requestTimeoutMs, 10_000, 1, 600_000)
    this.outbound = resolveOutbound(options)
    this.auth = resolveAuth(options, this.id)
    this.clock = options.clock ?? systemClock
    this.gate = new PreAuthenticationGate(resolvePreAuthentication(options))
    for (const [peer, url] of peers) this.link(peer, url)
    this.handler = (req, res) => this.handle(req, res)
  }

  /** The standalone server's URL (`http://host:port/`) once {@link listen} resolved, else `undefined`. */
  get url(): string | undefined {
    const bound = this.server?.address() as AddressInfo | null | undefined
    if (bound === undefined || bound === null) return undefined
    return `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/`
  }

  /**
   * Starts a `node:http` server for {@link handler} on `address` (`'host:port'`, port 0 lets the OS
   * pick) and resolves with its URL. The transport's `close()` closes it. Call it once (again only
   * after a `LISTEN_FAILED`), unless you mount {@link handler} in your own server instead.
   * @throws TwopcError `INVALID_OPTIONS` for a bad address, `INVALID_REQUEST` if already listening,
   * `CLOSED` after `close()`; `LISTEN_FAILED` (naming the address and the system's reason, such as
   * `EADDRINUSE`) if it cannot be bound.
   */
  async listen(address: string): Promise<string> {
    this.assertOpen()
    const { host, port } = parseHostPort('address', address, 0)
    if (this.server !== undefined) throw new TwopcError('INVALID_REQUEST', 'listen() was already called')
    const server = createServer(
      {
        requestTimeout: this.requestTimeoutMs,
        headersTimeout: Math.min(60_000, this.requestTimeoutMs),
        connectionsCheckingInterval: Math.min(CONNECTIONS_CHECKING_INTERVAL_MS, this.requestTimeoutMs),
      },
      this.handler,
    )
    // Before a request passes authentication, a connection is on the pre-authentication budget.
    server.on('connection', (socket: Socket) => this.gate.admit(socket))
    this.server = server
    try {
      await listenOn(server, { host, port })
    } catch (error) {
      this.server = undefined // listen() may be called again, on another address
      throw error
    }
    return this.url as string
  }

  /**
   * Sets (or moves) the URL of peer `id`. Moving a peer drops what was queued for it; setting the
   * same URL again does nothing.
   * @throws TwopcError `INVALID_OPTIONS` for a bad id or URL, or a peer without a secret when
   * authentication is on; `CLOSED` after `close()`.
   */
  setPeer(id: NodeId, url: string): void {
    this.assertOpen()
    nodeId('id', id)
    const href = peerUrl(`peers.${id}`, url)
    const previous = this.links.get(id)
    if (previous?.url === href) return
    void previous?.close()
    this.link(id, href)
  }

  /**
   * Queues `message` for peer `message.to`; a request leaves at the end of this event-loop turn (or
   * when the peer's previous request finishes). Called by the runtime. Never blocks, and never
   * throws because the peer is down.
   * @throws TwopcError `INVALID_MESSAGE` if `message.to` has no URL (see `peers`) or the message is
   * over {@link maxMessageBytes}; `CLOSED` after `close()`.
   */
  send(message: Message): void {
    this.assertOpen()
    const { link, bytes } = routeOutbound(this.links, message, this.maxMessageBytes, {
      location: 'URL',
      limitOption: 'maxBodyBytes',
    })
    link.enqueue(bytes)
  }

  /**
   * Sets the one handler for inbound messages. Called by the runtime at start. Each message has
   * passed `parseMessage` and every check, and is deep-frozen: the runtime's `parseMessage` does
   * not validate it again.
   */
  onMessage(handler: (message: unknown) => void): void {
    this.receiver = handler
  }

  /** Counters since construction (`writes` counts successful requests), and each peer's health. */
  stats(): HttpTransportStats {
    return { ...this.counters.snapshot(this.links), ...this.gate.snapshot() }
  }

  /**
   * Stops delivering (the mounted handler answers 503 from now on), aborts requests in flight,
   * drops what is queued and closes the {@link listen} server with its connections. Idempotent:
   * every call returns the same promise. The runtime calls it from the node's `close()`.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.receiver = undefined
    const server = this.server
    const stopped =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          })
    this.closing = Promise.all([stopped, ...[...this.links.values()].map((link) => link.close())]).then(
      () => {},
    )
    return this.closing
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new TwopcError('CLOSED', `HttpTransport of ${this.id} is closed`)
  }

  private link(peer: NodeId, url: string): void {
    if (this.auth !== undefined && !this.auth.knows(peer)) {
      invalidOption(`secrets.${peer}`, 'a secret (or set `secret` for every peer)', undefined)
    }
    this.links.set(
      peer,
      new HttpPeerLink(peer, url, {
        self: this.id,
        auth: this.auth,
        outbound: this.outbound,
        maxBodyBytes: this.maxBodyBytes,
        requestTimeoutMs: this.requestTimeoutMs,
        counters: this.counters,
        drop: (drop) => this.dropped(drop),
        clock: this.clock,
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`
    if (this.closing !== undefined) return answer(res, 503, { error: 'closed' })
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      return answer(res, 405, { error: 'method-not-allowed' })
    }
    if (req.readableEnded) {
      // A body parser mounted ahead of this handler read the body. A raw one left the exact bytes
      // (which the signature covers) in `req.body`; any other is a set-up mistake on this node.
      const { body } = req as IncomingMessage & { body?: unknown }
      if (!Buffer.isBuffer(body)) return this.refuse(req, res, remote, BODY_CONSUMED, BODY_CONSUMED_FIX)
      if (body.length > this.maxBodyBytes) {
        return this.refuse(req, res, remote, 'oversized', `body over ${this.maxBodyBytes} bytes`)
      }
      return this.admit(req, res, remote, body)
    }
    const declared = Number(header(req, 'content-length'))
    if (declared > this.maxBodyBytes) {
      return this.refuse(req, res, remote, 'oversized', `declared body of ${declared} bytes`)
    }
    const chunks: Buffer[] = []
    let size = 0
    let finished = false
    req.on('data', (chunk: Buffer) => {
      if (finished) return
      size += chunk.length
      if (size <= this.maxBodyBytes) chunks.push(chunk)
      else {
        finished = true
        this.refuse(req, res, remote, 'oversized', `body over ${this.maxBodyBytes} bytes`)
      }
    })
    req.on('end', () => {
      if (finished) return
      finished = true
      this.admit(req, res, remote, Buffer.concat(chunks, size))
    })
    req.on('error', () => {
      finished = true // the client went away; nothing was delivered
    })
  }

  private admit(req: IncomingMessage, res: ServerResponse, remote: string, body: Buffer): void {
    const from = header(req, HEADERS.from)
    if (this.auth !== undefined) {
      const stamp = header(req, HEADERS.timestamp)
      const failure = this.auth.verify(
        {
          from,
          timestamp: stamp === undefined ? undefined : /^\d{1,16}$/.test(stamp) ? Number(stamp) : Number.NaN,
          signature: header(req, HEADERS.signature),
        },
        body,
      )
      if (failure !== undefined) {
        return this.refuse(req, res, remote, failure, `request claiming to come from ${JSON.stringify(from)}`)
      }
    } else if (from !== undefined && !isId(from)) {
      return this.refuse(req, res, remote, 'malformed', `${HEADERS.from} is not a node id`)
    }
    this.gate.authenticated(req.socket)
    const admission = admitMessages(body, { self: this.id, sender: from, batch: true })
    if (!admission.ok) return this.refuse(req, res, remote, admission.reason, admission.detail)
    const receiver = this.receiver
    if (receiver === undefined) return answer(res, 503, { error: 'not-receiving' })
    for (const message of admission.messages) {
      this.counters.messagesReceived += 1
      receiver(message)
    }
    answer(res, 204)
  }

  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    remote: string,
    reason: InboundRejectionReason,
    detail: string,
  ): void {
    this.counters.rejected[reason] += 1
    const status = STATUS[reason]
    // Authentication failures say no more than the reason; the rest helps a developer fix a client.
    answer(res, status, status === 401 ? { error: reason } : { error: reason, detail })
    if (reason === 'oversized') {
      // Do not read the rest of an oversized body: end the connection once the answer is out.
      res.once('finish', () => req.socket.destroySoon())
    }
    this.emit('rejected', { reason, detail, remote })
  }
}

function answer(
  res: ServerResponse,
  status: number,
  body?: { readonly error: string; readonly detail?: string },
): void {
  if (res.headersSent) return
  if (body === undefined) {
    res.writeHead(status).end()
    return
  }
  const text = JSON.stringify(body)
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    .end(text)
}
