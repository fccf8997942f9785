import { connect, type Socket } from 'node:net'
import pRetry from 'p-retry'
import type { NodeId } from '../core/types.js'
import type { Clock } from '../runtime/interfaces.js'
import { encodeFrames, FrameDecoder, MAX_REPLY_BYTES, parseReply } from './frame-codec.js'
import type { Authenticator } from './hmac-auth.js'
import { enqueueReportingDrops } from './outbound-message.js'
import { PeerQueue } from './peer-queue.js'
import type { OutboundDrop, TransportCounters } from './transport-events.js'
import type { HostPort, ResolvedOutbound } from './transport-options.js'
import { type PeerHealthReports, PeerHealthTracker } from './transport-peer-health.js'

/** What a {@link TcpPeerLink} needs from its transport. */
export interface TcpLinkConfig {
  /** The sending node, written in every envelope. */
  readonly self: NodeId
  readonly auth: Authenticator | undefined
  readonly outbound: ResolvedOutbound
  readonly connectTimeoutMs: number
  readonly counters: TransportCounters
  /** Counts and reports discarded messages. */
  readonly drop: (drop: OutboundDrop) => void
  /** Stamps `lastSuccessAt`. */
  readonly clock: Pick<Clock, 'now'>
  /** Where the peer's health changes are reported. */
  readonly reports: PeerHealthReports
}

/** One socket write takes queued frames up to about this many bytes. */
const WRITE_BYTES_TARGET = 1024 * 1024
/** A typical signed envelope line, for the write budget (an unsigned one is shorter). */
const ENVELOPE_BYTES_ESTIMATE = 128
/** How long `close()` lets the peer acknowledge the end of the connection before destroying it. */
const CLOSE_GRACE_MS = 1000
/** Idle time before TCP keep-alive probes start, to notice a peer that vanished without a FIN. */
const KEEP_ALIVE_DELAY_MS = 10_000

/**
 * The outbound half of a {@link TcpTransport} towards one peer: a bounded queue, one persistent
 * connection (re-established with capped exponential backoff while messages wait), and writes
 * coalesced per turn. Inbound messages never use this connection; the peer sends over its own link
 * to us.
 *
 * - Writes are coalesced per turn: the flush is queued with `process.nextTick`. The runtime sends
 *   from a microtask, so the flush runs once the microtask queue is empty, before the next callback:
 *   every message the runtime sends in one turn shares one socket write, `commit()` callers hear
 *   their decision before it, and what they start in reply shares it. (A send made directly in a
 *   callback, outside any microtask, is flushed before that callback's microtasks.) Waiting for
 *   `setImmediate` instead, which gathers every socket read of a poll phase, made each hop wait for
 *   the whole phase: two processes at 1,000 concurrent transactions ran 30 % slower.
 * - Back-pressure: once `socket.write` reports its buffer full, frames stay in the bounded
 *   queue until `drain`; overflow drops the oldest (see {@link PeerQueue}).
 * - Frames already written when a connection breaks are lost; the protocol retransmits.
 * - Frames are signed when written, not when queued, so a queue that waited out a peer's restart
 *   still carries fresh timestamps.
 * - {@link health}: a failed connection attempt is a failure; the peer's `accepted` reply (see
 *   `frame-codec.ts`), and every later write on that connection, is a success; its `refused`
 *   reply is a failure, reported as `authentication-refused` when our signature was the problem.
 */
export class TcpPeerLink {
  /** This peer's health, for `stats().peers`. */
  readonly health: PeerHealthTracker
  private readonly queue: PeerQueue
  private readonly stop = new AbortController()
  private readonly plainEnvelope: string
  /** The connected socket, if any. */
  private socket: Socket | undefined
  /** The socket of the connection attempt in progress, if any. */
  private attempt: Socket | undefined
  private connecting = false
  /** `socket.write` returned false: wait for `drain`. */
  private blocked = false
  /** The peer accepted the connected socket's first frame (its `accepted` reply came). */
  private accepted = false
  /** A flush is queued (`process.nextTick`). */
  private flushing = false
  private closing: Promise<void> | undefined

  constructor(
    private readonly peer: NodeId,
    private readonly address: HostPort,
    private readonly config: TcpLinkConfig,
  ) {
    this.queue = new PeerQueue(config.outbound.maxQueuedMessages, config.outbound.maxQueuedBytes)
    this.health = new PeerHealthTracker(peer, config.clock, config.reports)
    this.plainEnvelope = JSON.stringify({ from: config.self })
  }

  /** The address this link connects to, `host:port`. */
  get target(): string {
    return `${this.address.host}:${this.address.port}`
  }

  /** Queues a message's JSON bytes for the peer; connects if needed. Never throws. */
  enqueue(message: Buffer): void {
    if (this.closing !== undefined) return
    enqueueReportingDrops(this.queue, this.peer, message, this.config.drop)
    if (this.socket === undefined) this.connect()
    else this.scheduleFlush()
  }

  /**
   * Stops reconnecting, writes what is queued if connected, ends the connection (destroying it if
   * the peer does not finish within a second) and drops anything left. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.stop.abort()
    this.flush()
    const left = this.queue.clear()
    if (left > 0) {
      this.config.drop({ reason: 'closed', to: this.peer, count: left, detail: 'the transport closed first' })
    }
    const closed: Promise<void>[] = []
    const attempt = this.attempt
    if (attempt !== undefined) {
      closed.push(whenClosed(attempt))
      attempt.destroy()
    }
    const socket = this.socket
    if (socket !== undefined) {
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS)
      closed.push(whenClosed(socket).then(() => clearTimeout(timer)))
      socket.end()
    }
    this.closing = Promise.all(closed).then(() => {})
    return this.closing
  }

  private connect(): void {
    if (this.connecting || this.closing !== undefined) return
    this.connecting = true
    const { retryDelayMs, retryDelayMsMax } = this.config.outbound
    pRetry(() => this.connectOnce(), {
      retries: Number.POSITIVE_INFINITY,
      factor: 2,
      minTimeout: retryDelayMs,
      maxTimeout: retryDelayMsMax,
      randomize: true,
      unref: true,
      signal: this.stop.signal,
    }).then(
      (socket) => this.attach(socket),
      () => {
        // Only close() stops the retries.
        this.connecting = false
        this.attempt?.destroy()
      },
    )
  }

  private connectOnce(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.address.host, port: this.address.port })
      this.attempt = socket
      const fail = (error: Error) => {
        socket.destroy()
        const failure = new Error(`Cannot connect to ${this.peer} at ${this.target}: ${error.message}`)
        this.health.failed(failure.message)
        reject(failure)
      }
      socket.setTimeout(this.config.connectTimeoutMs, () =>
        fail(new Error(`no connection within ${this.config.connectTimeoutMs} ms`)),
      )
      socket.once('error', fail)
      // Destroyed by close() while connecting: settle, so the retry loop ends (a no-op once connected).
      socket.once('close', () => reject(new Error(`Connection to ${this.peer} closed before it was made`)))
      socket.once('connect', () => {
        socket.off('error', fail)
        socket.setTimeout(0)
        resolve(socket)
      })
    })
  }

  private attach(socket: Socket): void {
    this.connecting = false
    this.attempt = undefined
    if (this.closing !== undefined) {
      socket.destroy()
      return
    }
    socket.setNoDelay(true) // frames are already coalesced per turn; Nagle would only add latency
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS)
    socket.on('error', () => {}) // 'close' follows, and the queue waits for the next connection
    socket.on('drain', () => {
      this.blocked = false
      this.scheduleFlush()
    })
    socket.on('close', () => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.blocked = false
      this.accepted = false
      if (this.queue.size > 0) this.connect()
    })
    // The peer writes only replies here; reading also lets us see its FIN and reconnect promptly.
    const replies = new FrameDecoder(MAX_REPLY_BYTES)
    socket.on('data', (chunk: Buffer) => this.hear(socket, replies, chunk))
    this.socket = socket
    this.scheduleFlush()
  }

  /** Reads the peer's replies: `accepted` marks it healthy; `refused` means it is closing on us. */
  private hear(socket: Socket, replies: FrameDecoder, chunk: Buffer): void {
    const { frames, oversizedBytes } = replies.push(chunk)
    for (const frame of frames) {
      const reply = parseReply(frame)
      if (reply === undefined) continue
      if ('accepted' in reply) {
        this.accepted = socket === this.socket
        this.health.succeeded()
      } else {
        this.health.refused(reply.refused, '')
        socket.destroy()
        return
      }
    }
    if (oversizedBytes !== undefined) socket.destroy() // not a twopc receiver
  }

  private scheduleFlush(): void {
    if (!this.flushing && this.socket !== undefined && !this.blocked) {
      this.flushing = true
      process.nextTick(this.flush)
    }
  }

  /** Writes queued frames until the queue is empty or the socket pushes back (one function for the link's life). */
  private readonly flush = (): void => {
    this.flushing = false
    const socket = this.socket
    let wrote = false
    while (socket !== undefined && !this.blocked && this.queue.size > 0) {
      wrote = true
      const messages = this.queue.take(WRITE_BYTES_TARGET, ENVELOPE_BYTES_ESTIMATE)
      const frames = messages.map((message) => ({ envelope: this.envelope(message), message }))
      this.config.counters.writes += 1
      this.config.counters.messagesSent += messages.length
      if (!socket.write(encodeFrames(frames))) this.blocked = true
    }
    if (wrote && this.accepted) this.health.succeeded()
  }

  private envelope(message: Buffer): string {
    if (this.config.auth === undefined) return this.plainEnvelope
    const { timestamp, signature } = this.config.auth.sign(this.peer, message)
    return JSON.stringify({ from: this.config.self, ts: timestamp, sig: signature })
  }
}

/** Resolves once `socket` has emitted `close` (at once if it already has). */
function whenClosed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()))
}
