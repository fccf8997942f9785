import type { Clock } from './interfaces.js'

interface Deadline {
  readonly key: string
  readonly at: number
  /** Insertion order: deadlines due at the same time fire in the order they were set. */
  readonly seq: number
  readonly callback: () => void
}

/**
 * Every timer of one node on one clock timer: a binary heap of deadlines (prepare timeouts,
 * retransmissions, decision-requests), keyed so that setting a key again replaces its deadline.
 * Only the earliest deadline has a clock timer, so a transaction's timers cost heap operations,
 * not `setTimeout`/`clearTimeout` pairs. Deadlines due at the same time fire in the order they
 * were set (STYLE: timer ties break by insertion order).
 */
export class Deadlines {
  private heap: Deadline[] = []
  /** The live deadline of each key; heap entries that are not it are stale and skipped. */
  private readonly live = new Map<string, Deadline>()
  private seq = 0
  private armed: { readonly at: number; readonly handle: unknown } | undefined

  constructor(private readonly clock: Clock) {}

  /** Number of deadlines set and not yet fired or cleared. */
  get size(): number {
    return this.live.size
  }

  /** Runs `callback` once `delayMs` have passed, replacing the deadline `key` had, if any. */
  set(key: string, delayMs: number, callback: () => void): void {
    const deadline: Deadline = { key, at: this.clock.now() + delayMs, seq: this.seq++, callback }
    this.live.set(key, deadline)
    this.push(deadline)
    this.arm()
  }

  /** Forgets the deadline of `key`, if any. */
  clear(key: string): void {
    if (!this.live.delete(key)) return
    // Cleared and replaced deadlines stay in the heap until they reach its top; rebuild it before
    // they outnumber the live ones, so memory stays proportional to what is armed.
    if (this.heap.length > 2 * this.live.size + 64) {
      this.heap = []
      for (const deadline of [...this.live.values()].sort((a, b) => a.seq - b.seq)) this.push(deadline)
    }
  }

  /** Forgets every deadline and disarms the clock timer. */
  clearAll(): void {
    this.live.clear()
    this.heap = []
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed.handle)
    this.armed = undefined
  }

  /** Arms the clock timer for the earliest live deadline, unless it is armed for it already. */
  private arm(): void {
    this.dropStale()
    const next = this.heap[0]
    if (next === undefined || (this.armed !== undefined && this.armed.at <= next.at)) return
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed.handle)
    const handle = this.clock.setTimeout(() => this.fire(), Math.max(0, next.at - this.clock.now()))
    this.armed = { at: next.at, handle }
  }

  /** Runs every deadline that is due, in order, then arms the clock timer for the next. */
  private fire(): void {
    this.armed = undefined
    const now = this.clock.now()
    try {
      for (let next = this.peek(); next !== undefined && next.at <= now; next = this.peek()) {
        this.pop()
        this.live.delete(next.key)
        next.callback()
      }
    } finally {
      // A callback that throws (a listener of an event it emitted) must not stop the other timers.
      this.arm()
    }
  }

  /** The earliest live deadline. */
  private peek(): Deadline | undefined {
    this.dropStale()
    return this.heap[0]
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.live.get((this.heap[0] as Deadline).key) !== this.heap[0]) this.pop()
  }

  private push(deadline: Deadline): void {
    const heap = this.heap
    heap.push(deadline)
    let at = heap.length - 1
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (!earlier(heap[at] as Deadline, heap[parent] as Deadline)) break
      ;[heap[at], heap[parent]] = [heap[parent] as Deadline, heap[at] as Deadline]
      at = parent
    }
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
    heap[0] = last
    let at = 0
    for (;;) {
      const left = 2 * at + 1
      const right = left + 1
      let smallest = at
      if (left < heap.length && earlier(heap[left] as Deadline, heap[smallest] as Deadline)) smallest = left
      if (right < heap.length && earlier(heap[right] as Deadline, heap[smallest] as Deadline))
        smallest = right
      if (smallest === at) return
      ;[heap[at], heap[smallest]] = [heap[smallest] as Deadline, heap[at] as Deadline]
      at = smallest
    }
  }
}

function earlier(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
