import type { Clock } from './interfaces.js'

interface Deadline {
  readonly kind: string
  readonly id: string
  readonly at: number
  /** Insertion order: deadlines due at the same time fire in the order they were set. */
  readonly seq: number
  readonly callback: (id: string) => void
}

/**
 * Every timer of one node on one clock timer: a binary heap of deadlines (prepare timeouts,
 * retransmissions, decision-requests, resource deadlines), keyed by a kind and an id (a timer
 * kind and a transaction id) so that setting a key again replaces its deadline. Only the earliest
 * deadline has a clock timer, so a transaction's timers cost heap operations, not
 * `setTimeout`/`clearTimeout` pairs; and the two-part key costs no string of its own, and a
 * callback shared by a kind (it gets the id) no closure per deadline. Deadlines due at the same
 * time fire in the order they were set (STYLE: timer ties break by insertion order).
 */
export class Deadlines {
  private heap: Deadline[] = []
  /** The live deadline of each key, by kind then id; heap entries that are not it are stale and skipped. */
  private readonly live = new Map<string, Map<string, Deadline>>()
  private count = 0
  private seq = 0
  private armed: { readonly at: number; readonly handle: unknown } | undefined

  constructor(private readonly clock: Clock) {}

  /** Number of deadlines set and not yet fired or cleared. */
  get size(): number {
    return this.count
  }

  /** Runs `callback(id)` once `delayMs` have passed, replacing the deadline of (`kind`, `id`), if any. */
  set(kind: string, id: string, delayMs: number, callback: (id: string) => void): void {
    const deadline: Deadline = { kind, id, at: this.clock.now() + delayMs, seq: this.seq++, callback }
    let ofKind = this.live.get(kind)
    if (ofKind === undefined) {
      ofKind = new Map()
      this.live.set(kind, ofKind)
    }
    const size = ofKind.size
    ofKind.set(id, deadline)
    this.count += ofKind.size - size
    this.push(deadline)
    this.arm()
  }

  /** Forgets the deadline of (`kind`, `id`), if any. */
  clear(kind: string, id: string): void {
    if (!this.forget(kind, id)) return
    // Cleared and replaced deadlines stay in the heap until they reach its top; rebuild it before
    // they outnumber the live ones, so memory stays proportional to what is armed.
    if (this.heap.length > 2 * this.count + 64) {
      const live = [...this.live.values()].flatMap((ofKind) => [...ofKind.values()])
      this.heap = []
      for (const deadline of live.sort((a, b) => a.seq - b.seq)) this.push(deadline)
    }
  }

  /** Forgets every deadline and disarms the clock timer. */
  clearAll(): void {
    this.live.clear()
    this.count = 0
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
        this.forget(next.kind, next.id)
        next.callback(next.id)
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
    for (
      let top = this.heap[0];
      top !== undefined && this.live.get(top.kind)?.get(top.id) !== top;
      top = this.heap[0]
    )
      this.pop()
  }

  /** Removes the live deadline of (`kind`, `id`); false if there was none. */
  private forget(kind: string, id: string): boolean {
    if (!this.live.get(kind)?.delete(id)) return false
    this.count -= 1
    return true
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
