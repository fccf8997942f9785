/**
 * The TCP transport's wire format. A connection carries frames `[u32 big-endian length][body]`;
 * a body is an envelope line, `\n`, then one message as UTF-8 JSON:
 *
 * ```
 * {"from":"bank-a","ts":1718000000000,"sig":"<64 hex digits>"}\n{"v":2,"type":"vote",...}
 * ```
 *
 * `ts` and `sig` are present when the sender has a secret (see `hmac-auth.ts`); `sig` covers the
 * message bytes after the newline. JSON never contains a raw newline, so the first one splits the body.
 *
 * The receiver answers on the same connection with {@link Reply} frames only (an envelope line
 * and an empty message): `{"accepted":true}` once the first frame passed authentication,
 * `{"refused":"<reason>"}` just before it closes the connection over a frame it refused.
 */

/** Bytes of the length prefix. */
const LENGTH_BYTES = 4
const NEWLINE = 0x0a

/**
 * Longest envelope line accepted. An envelope holds a node id (at most 128 characters, so at most
 * about 1 KiB of escaped UTF-8), a timestamp and a signature.
 */
export const MAX_ENVELOPE_BYTES = 2048

/** One frame to encode: its envelope line (without the newline) and the message's JSON bytes. */
export interface OutboundFrame {
  readonly envelope: string
  readonly message: Buffer
}

/** Encodes frames into one buffer, ready for a single socket write. */
export function encodeFrames(frames: readonly OutboundFrame[]): Buffer {
  const envelopeBytes = frames.map((frame) => Buffer.byteLength(frame.envelope))
  let total = 0
  for (let i = 0; i < frames.length; i++)
    total += LENGTH_BYTES + (envelopeBytes[i] as number) + 1 + (frames[i] as OutboundFrame).message.length
  const buffer = Buffer.allocUnsafe(total)
  let offset = 0
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i] as OutboundFrame
    const envelopeLength = envelopeBytes[i] as number
    offset = buffer.writeUInt32BE(envelopeLength + 1 + frame.message.length, offset)
    offset += buffer.write(frame.envelope, offset, 'utf8')
    buffer[offset] = NEWLINE
    offset += 1 + frame.message.copy(buffer, offset + 1)
  }
  return buffer
}

/**
 * What a receiver tells the sender on the sender's connection: its frames passed authentication
 * (sent once per connection), or it refused one for `refused`, an `InboundRejectionReason`, and
 * is closing the connection. Unsigned: it only informs the sender's health and events.
 */
export type Reply = { readonly accepted: true } | { readonly refused: string }

/** Largest reply frame a sender reads; a peer sending more is not a twopc receiver. */
export const MAX_REPLY_BYTES = 256

/** Encodes a {@link Reply} as one frame. */
export function encodeReply(reply: Reply): Buffer {
  return encodeFrames([{ envelope: JSON.stringify(reply), message: Buffer.alloc(0) }])
}

/** Decodes a {@link Reply} frame body; `undefined` for anything else (ignored, for later versions). */
export function parseReply(body: Buffer): Reply | undefined {
  const parts = splitFrame(body)
  if (parts === undefined) return undefined
  try {
    const value: unknown = JSON.parse(parts.envelope.toString('utf8'))
    if (typeof value !== 'object' || value === null) return undefined
    const { accepted, refused } = value as Record<string, unknown>
    if (accepted === true) return { accepted: true }
    return typeof refused === 'string' ? { refused } : undefined
  } catch {
    return undefined
  }
}

/** Splits a frame body into its envelope line and message bytes; `undefined` if it has no envelope line. */
export function splitFrame(
  body: Buffer,
): { readonly envelope: Buffer; readonly message: Buffer } | undefined {
  const newline = body.indexOf(NEWLINE)
  if (newline < 0 || newline > MAX_ENVELOPE_BYTES) return undefined
  return { envelope: body.subarray(0, newline), message: body.subarray(newline + 1) }
}

/**
 * Cuts a byte stream into frame bodies. Holds at most one incomplete frame, and refuses to wait for
 * a frame that declares more than `maxFrameBytes`, so a peer cannot make it buffer without limit.
 */
export class FrameDecoder {
  private chunks: Buffer[] = []
  private buffered = 0
  /** Body length of the frame being read, once its prefix is in. */
  private expected: number | undefined

  constructor(private readonly maxFrameBytes: number) {}

  /**
   * Adds received bytes; returns the frame bodies they completed, and `oversizedBytes` (the declared
   * length) if the next frame is over the limit — after which the decoder must not be used again.
   */
  push(chunk: Buffer): { readonly frames: Buffer[]; readonly oversizedBytes?: number } {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    const frames: Buffer[] = []
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < LENGTH_BYTES) break
        const length = this.take(LENGTH_BYTES).readUInt32BE(0)
        if (length > this.maxFrameBytes) return { frames, oversizedBytes: length }
        this.expected = length
      }
      if (this.buffered < this.expected) break
      frames.push(this.take(this.expected))
      this.expected = undefined
    }
    return { frames }
  }

  /** Removes the first `count` buffered bytes, copying only when they span chunks. */
  private take(count: number): Buffer {
    if (count === 0) return Buffer.alloc(0)
    this.buffered -= count
    const first = this.chunks[0] as Buffer
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift()
      else this.chunks[0] = first.subarray(count)
      return first.subarray(0, count)
    }
    const joined = Buffer.concat(this.chunks)
    const rest = joined.subarray(count)
    this.chunks = rest.length > 0 ? [rest] : []
    return joined.subarray(0, count)
  }
}
