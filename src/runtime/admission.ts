import { TwopcError } from '../core/errors.js'

interface Waiter {
  readonly admit: () => void
  readonly reject: (error: unknown) => void
}

/**
 * A coordinator's admission control: past `maxInFlight` transactions in flight, `commit()` calls
 * wait here, oldest first, and begin as transactions finish — so that a burst past the point where
 * more concurrency only adds queueing (the knee) waits outside the protocol, where it costs no
 * messages, timers or timeouts. At most `maxQueued` wait; past that `commit()` is refused with
 * `TOO_MANY_TRANSACTIONS`. With `maxQueued` 0 nothing waits: the core refuses at once.
 */
export class AdmissionQueue {
  private readonly waiting: Waiter[] = []
  /** Callers let in that have not begun their transaction yet: their room is taken. */
  private admitted = 0

  constructor(
    private readonly maxInFlight: number,
    private readonly maxQueued: number,
  ) {}

  /** Callers waiting now. */
  get size(): number {
    return this.waiting.length
  }

  /** True if a caller must wait before beginning, with `inFlight` transactions in flight. */
  mustWait(inFlight: number): boolean {
    if (this.maxQueued === 0) return false
    return this.waiting.length > 0 || inFlight + this.admitted >= this.maxInFlight
  }

  /**
   * Waits for room. Resolves `true` once the caller may begin (it must then call {@link begun}),
   * `false` if `signal` fired first.
   * @throws TwopcError `TOO_MANY_TRANSACTIONS` at once if `maxQueued` callers already wait.
   */
  wait(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(
        new TwopcError(
          'TOO_MANY_TRANSACTIONS',
          `${this.maxInFlight} transactions are in flight and ${this.waiting.length} commit() calls wait (maxInFlightTransactions, maxQueuedTransactions); retry later`,
        ),
      )
    }
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter)
        if (index >= 0) this.waiting.splice(index, 1)
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
      }
      this.waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** A caller let in began its transaction (or gave up): its room is counted by `inFlight` now. */
  begun(): void {
    this.admitted -= 1
  }

  /** Transactions finished: lets in as many waiting callers as there is room for. */
  release(inFlight: number): void {
    while (this.waiting.length > 0 && inFlight + this.admitted < this.maxInFlight) {
      this.admitted += 1
      this.waiting.shift()?.admit()
    }
  }

  /** The node closed or halted: every waiting caller is rejected with `error`. */
  rejectAll(error: unknown): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error)
  }
}
