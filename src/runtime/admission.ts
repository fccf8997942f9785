import { TwopcError } from '../core/errors.js'
import { Fifo } from '../core/fifo.js'

interface Waiter {
  readonly admit: () => void
  readonly reject: (error: unknown) => void
  /** Its signal fired while it waited: it stays in the queue, skipped, until it reaches the head. */
  cancelled: boolean
}

/** Cancelled waiters are dropped in one pass once they outnumber the others by this many. */
const COMPACT_AFTER = 1024

/**
 * A coordinator's admission control: past `maxInFlight` transactions in flight, `commit()` calls
 * wait here, oldest first, and begin as transactions finish — so that a burst past the point where
 * more concurrency only adds queueing (the knee) waits outside the protocol, where it costs no
 * messages, timers or timeouts. At most `maxQueued` wait; past that `commit()` is refused with
 * `TOO_MANY_TRANSACTIONS`. With `maxQueued` 0 nothing waits: the core refuses at once.
 */
export class AdmissionQueue {
  /** Waiting callers, oldest first. */
  private readonly queue = new Fifo<Waiter>()
  /** Callers in the queue not cancelled. */
  private waiting = 0
  /** Callers let in that have not begun their transaction yet: their room is taken. */
  private admitted = 0

  constructor(
    private readonly maxInFlight: number,
    private readonly maxQueued: number,
  ) {}

  /** Callers waiting now. */
  get size(): number {
    return this.waiting
  }

  /** True if a caller must wait before beginning, with `inFlight` transactions in flight. */
  mustWait(inFlight: number): boolean {
    if (this.maxQueued === 0) return false
    return this.waiting > 0 || inFlight + this.admitted >= this.maxInFlight
  }

  /**
   * Waits for room. Resolves `true` once the caller may begin (it must then call {@link begun}),
   * `false` if `signal` fired first.
   * @throws TwopcError `TOO_MANY_TRANSACTIONS` at once if `maxQueued` callers already wait.
   */
  wait(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.waiting >= this.maxQueued) {
      return Promise.reject(
        new TwopcError(
          'TOO_MANY_TRANSACTIONS',
          `${this.maxInFlight} transactions are in flight and ${this.waiting} commit() calls wait (maxInFlightTransactions, maxQueuedTransactions); retry later`,
        ),
      )
    }
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => {
        waiter.cancelled = true
        this.waiting -= 1
        // Cancelled waiters are skipped at the head; drop them before they outnumber the others.
        if (this.queue.size > 2 * this.waiting + COMPACT_AFTER)
          this.queue.retain((queued) => !queued.cancelled)
        resolve(false)
      }
      const settle = () => signal?.removeEventListener('abort', onAbort)
      const waiter: Waiter = {
        admit: () => {
          settle()
          resolve(true)
        },
        reject: (error) => {
          settle()
          reject(error)
        },
        cancelled: false,
      }
      this.queue.push(waiter)
      this.waiting += 1
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** A caller let in began its transaction (or gave up): its room is counted by `inFlight` now. */
  begun(): void {
    this.admitted -= 1
  }

  /** Transactions finished: lets in as many waiting callers as there is room for. */
  release(inFlight: number): void {
    while (this.waiting > 0 && inFlight + this.admitted < this.maxInFlight) {
      const waiter = this.queue.shift() as Waiter // `waiting` > 0: one is queued
      if (waiter.cancelled) continue
      this.waiting -= 1
      this.admitted += 1
      waiter.admit()
    }
  }

  /** The node closed or halted: every waiting caller is rejected with `error`. */
  rejectAll(error: unknown): void {
    const waiters = this.queue.toArray().filter((waiter) => !waiter.cancelled)
    this.queue.clear()
    this.waiting = 0
    for (const waiter of waiters) waiter.reject(error)
  }
}
