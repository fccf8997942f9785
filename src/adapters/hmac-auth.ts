import { createHmac, timingSafeEqual } from 'node:crypto'
import { invalidOption } from '../core/options.js'
import type { NodeId } from '../core/types.js'
import { isId } from '../core/validate.js'
import { type Clock, systemClock } from '../runtime/interfaces.js'
import type { InboundRejectionReason } from './transport-events.js'
import { integerInRange, requireObject } from './transport-options.js'

/**
 * Shared-secret authentication of the network transports (HMAC-SHA256).
 *
 * Every frame (TCP) or request (HTTP) carries its sender's node id, a timestamp and
 * `HMAC-SHA256(key, "twopc-hmac-v1\n" + timestamp + "\n" + sender + "\n" + recipient + "\n" + body)`.
 * The key is the one this node shares with the peer: `secrets[peer]`, else `secret`. The receiver
 * looks the key up by the claimed sender, so a valid signature **authenticates the sender id**;
 * every message inside must then carry that id as `from`, or it is rejected as `misattributed`.
 *
 * - With one cluster-wide `secret`, any holder of it can sign as any node: it keeps out whoever
 *   does not have the secret. With `secrets`, give each pair of nodes its own key (node A's
 *   `secrets.B` equals node B's `secrets.A`); then a node can sign only as itself towards a peer.
 * - The recipient is signed too, so a frame cannot be replayed to another node. A frame can be
 *   replayed to the same node within `maxClockSkewMs`; that is harmless, because the protocol
 *   ignores duplicates.
 */
export interface AuthOptions {
  /**
   * `'hmac'`: every frame or request is signed and checked with {@link secret} / {@link secrets};
   * a transport without a usable secret refuses to start (`INVALID_OPTIONS`), so that
   * `secret: process.env.TWOPC_SECRET` with the variable unset fails closed instead of running
   * open. `'none'`: no secret, and anyone who can reach the transport can send it protocol
   * messages and decide transactions — for tests and trusted networks only, and it must be said
   * explicitly.
   * @default 'hmac'
   * @example authentication: 'none' // a test on 127.0.0.1
   */
  readonly authentication?: 'hmac' | 'none'
  /**
   * One secret shared by every node (at least 16 characters). Used for any peer missing from
   * {@link secrets}. Present but `undefined` or empty (an unset environment variable) is an error,
   * not "no authentication".
   * @example process.env.TWOPC_SECRET
   */
  readonly secret?: string | undefined
  /**
   * A secret (at least 16 characters) per peer: `secrets[peerId]` is the key this node and
   * `peerId` share, used both to sign what goes to `peerId` and to check what comes from it.
   * @example { coord: 'k-coord-bank-a-…', 'bank-b': 'k-bank-a-bank-b-…' }
   */
  readonly secrets?: { readonly [peerId: string]: string }
  /**
   * How far a signed timestamp may be from this node's clock, either way, in milliseconds. Older
   * (or future) frames are rejected as `stale-timestamp`.
   * @default 30000
   */
  readonly maxClockSkewMs?: number
  /**
   * Source of the timestamps signed and checked, and of `lastSuccessAt` in `stats().peers`;
   * inject one to test staleness.
   * @default the system clock
   */
  readonly clock?: Pick<Clock, 'now'>
}

/** The fields that carry a signature on the wire, as received (untrusted). */
export interface SignatureClaim {
  readonly from: unknown
  readonly timestamp: unknown
  readonly signature: unknown
}

const MIN_SECRET_LENGTH = 16
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/

/**
 * Signs outgoing bodies and checks incoming ones for one node. Built by {@link resolveAuth};
 * the transports call it, users never do.
 */
export class Authenticator {
  constructor(
    private readonly self: NodeId,
    private readonly keys: ReadonlyMap<NodeId, Buffer>,
    private readonly fallback: Buffer | undefined,
    private readonly maxClockSkewMs: number,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** Whether a message to (or from) `peer` can be signed (checked): a key exists for it. */
  knows(peer: NodeId): boolean {
    return this.keys.has(peer) || this.fallback !== undefined
  }

  /** Signs `body` for `to` with the current time. The caller has checked {@link knows}. */
  sign(to: NodeId, body: Uint8Array): { readonly timestamp: number; readonly signature: string } {
    const timestamp = Math.floor(this.clock.now())
    return { timestamp, signature: this.mac(this.key(to), timestamp, this.self, to, body).toString('hex') }
  }

  /** Checks a claim over `body` addressed to this node; returns why it fails, or `undefined` if it holds. */
  verify(claim: SignatureClaim, body: Uint8Array): InboundRejectionReason | undefined {
    const { from, timestamp, signature } = claim
    if (from === undefined || timestamp === undefined || signature === undefined) return 'missing-signature'
    if (!isId(from) || typeof signature !== 'string' || !Number.isSafeInteger(timestamp))
      return 'bad-signature'
    if (!this.knows(from)) return 'unknown-peer'
    if (!SIGNATURE_PATTERN.test(signature)) return 'bad-signature'
    const expected = this.mac(this.key(from), timestamp as number, from, this.self, body)
    if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) return 'bad-signature'
    // Checked after the signature, so a forged frame is reported as forged, not as stale.
    if (Math.abs(this.clock.now() - (timestamp as number)) > this.maxClockSkewMs) return 'stale-timestamp'
    return undefined
  }

  private key(peer: NodeId): Buffer {
    return this.keys.get(peer) ?? (this.fallback as Buffer)
  }

  private mac(key: Buffer, timestamp: number, from: NodeId, to: NodeId, body: Uint8Array): Buffer {
    return createHmac('sha256', key)
      .update(`twopc-hmac-v1\n${timestamp}\n${from}\n${to}\n`)
      .update(body)
      .digest()
  }
}

/** Checks one secret; an unset or empty one is told the explicit way to run without. */
function secretBytes(name: string, value: unknown): Buffer {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) {
    const unset =
      value === undefined || value === ''
        ? " (set `secret` or `secrets`, or `authentication: 'none'` to accept messages from anyone)"
        : ''
    invalidOption(name, `a string of at least ${MIN_SECRET_LENGTH} characters${unset}`, value)
  }
  return Buffer.from(value, 'utf8')
}

/**
 * Validates {@link AuthOptions} for node `self` and returns its {@link Authenticator}, or
 * `undefined` for `authentication: 'none'`. Fails closed: with `'hmac'` (the default) and no
 * usable secret it throws. Transports call it once, at construction.
 * @throws TwopcError `INVALID_OPTIONS` for a missing, empty or short secret, or a secret given
 * with `authentication: 'none'`.
 */
export function resolveAuth(options: AuthOptions, self: NodeId): Authenticator | undefined {
  const maxClockSkewMs = integerInRange('maxClockSkewMs', options.maxClockSkewMs, 30_000, 1, 24 * 3_600_000)
  const clock = options.clock ?? systemClock
  if (typeof clock?.now !== 'function') invalidOption('clock', 'an object with a `now` method', clock)
  const mode = options.authentication ?? 'hmac'
  if (mode !== 'hmac' && mode !== 'none') invalidOption('authentication', "'hmac' or 'none'", mode)
  if (mode === 'none') {
    for (const name of ['secret', 'secrets'] as const) {
      if (name in options) invalidOption(name, "absent with `authentication: 'none'`", options[name])
    }
    return undefined
  }
  // Present but unset (`secret: process.env.TWOPC_SECRET` without the variable) fails like absent.
  const fallback =
    'secret' in options || options.secrets === undefined ? secretBytes('secret', options.secret) : undefined
  const keys = new Map<NodeId, Buffer>()
  if (options.secrets !== undefined) {
    requireObject('secrets', options.secrets)
    for (const [peer, secret] of Object.entries(options.secrets)) {
      if (!isId(peer)) invalidOption(`secrets key ${JSON.stringify(peer)}`, 'a node id', peer)
      keys.set(peer, secretBytes(`secrets.${peer}`, secret))
    }
  }
  if (fallback === undefined && keys.size === 0)
    invalidOption(
      'secrets',
      "an object with at least one secret (or set `secret`, or `authentication: 'none'` to accept messages from anyone)",
      options.secrets,
    )
  return new Authenticator(self, keys, fallback, maxClockSkewMs, clock)
}
