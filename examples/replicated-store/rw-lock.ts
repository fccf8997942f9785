/**
 * A small async read-write lock. The leader runs writes under the shared side (many at once) and
 * membership changes under the exclusive side (alone), so a change of the replica set never
 * overlaps a write: every write commits entirely before the change or entirely after it.
 */
export class ReadWriteLock {
  private readers = 0
  private writer = false
  /** Waiters in arrival order. A waiting exclusive holder blocks later shared ones, so a stream of writes cannot starve a membership change. */
  private readonly waiting: { readonly exclusive: boolean; readonly grant: () => void }[] = []

  /** Runs `task` while no exclusive holder runs. */
  shared<T>(task: () => Promise<T>): Promise<T> {
    return this.run(false, task)
  }

  /** Runs `task` alone. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.run(true, task)
  }

  private async run<T>(exclusive: boolean, task: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.waiting.push({ exclusive, grant })
      this.pump()
    })
    try {
      return await task()
    } finally {
      if (exclusive) this.writer = false
      else this.readers -= 1
      this.pump()
    }
  }

  private pump(): void {
    for (let head = this.waiting[0]; head !== undefined; head = this.waiting[0]) {
      if (this.writer || (head.exclusive && this.readers > 0)) return
      this.waiting.shift()
      if (head.exclusive) this.writer = true
      else this.readers += 1
      head.grant()
    }
  }
}
