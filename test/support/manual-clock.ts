import type { Clock } from '../../src/runtime/interfaces.js'

/** A clock that moves only when told, counting the timers armed and cleared. */
export class ManualClock implements Clock {
  time = 0
  armed = 0
  cleared = 0
  private timers = new Map<number, { at: number; callback: () => void }>()
  private next = 1

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    this.armed += 1
    const handle = this.next++
    this.timers.set(handle, { at: this.time + delayMs, callback })
    return handle
  }

  clearTimeout(handle: unknown): void {
    if (this.timers.delete(handle as number)) this.cleared += 1
  }

  /** Moves time to `ms`, firing every clock timer due by then, earliest first. */
  advanceTo(ms: number): void {
    for (;;) {
      const due = [...this.timers].filter(([, timer]) => timer.at <= ms).sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined) break
      this.timers.delete(due[0])
      this.time = due[1].at
      due[1].callback()
    }
    this.time = ms
  }

  get pending(): number {
    return this.timers.size
  }
}
