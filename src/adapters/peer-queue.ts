import { Fifo } from '../core/fifo.js'

/**
 * The messages waiting for one peer, as encoded UTF-8 JSON, oldest first. Bounded by count and by
 * bytes: pushing past either bound drops the oldest messages, and {@link push} says how many, so a
 * slow or absent peer costs bounded memory. Dropping the oldest (rather than refusing the newest)
 * keeps the freshest retransmissions, which are the ones the protocol still waits on.
 */
export class PeerQueue {
  private readonly items = new Fifo<Buffer>()
  private queuedBytes = 0

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  /** Messages waiting. */
  get size(): number {
    return this.items.size
  }

  /** Appends `message`; returns how many of the oldest messages were dropped to stay within bounds. */
  push(message: Buffer): number {
    this.items.push(message)
    this.queuedBytes += message.length
    let dropped = 0
    while (this.size > 1 && (this.size > this.maxMessages || this.queuedBytes > this.maxBytes)) {
      this.shift()
      dropped += 1
    }
    return dropped
  }

  /**
   * Removes and returns the oldest messages whose sizes, each plus `overheadBytes`, add up to at
   * most `budgetBytes` — and always at least one message when any is waiting.
   */
  take(budgetBytes: number, overheadBytes: number): Buffer[] {
    const taken: Buffer[] = []
    let bytes = 0
    for (let next = this.items.peek(); next !== undefined; next = this.items.peek()) {
      bytes += next.length + overheadBytes
      if (taken.length > 0 && bytes > budgetBytes) break
      taken.push(this.shift())
    }
    return taken
  }

  /** Empties the queue; returns how many messages it held. */
  clear(): number {
    const count = this.size
    this.items.clear()
    this.queuedBytes = 0
    return count
  }

  private shift(): Buffer {
    const item = this.items.shift() as Buffer // called only when one is waiting
    this.queuedBytes -= item.length
    return item
  }
}
