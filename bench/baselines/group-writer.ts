import { type FileHandle, open } from 'node:fs/promises'

/**
 * The raw group-commit writer: appends that arrive while a write and fdatasync are in flight are
 * written together with one more write and fdatasync; lazy appends never cause a sync of their own
 * and ride with the next one. No framing, no checksum, no recovery — the floor of what a durable
 * log costs on this disk.
 */
export class GroupWriter {
  /** fdatasync calls issued. */
  syncs = 0
  private waiting: { readonly bytes: Buffer; resolve(): void; reject(error: unknown): void }[] = []
  /** Lazy bytes waiting for the next sync. */
  private lazy: Buffer[] = []
  private busy = false
  private draining: Promise<void> = Promise.resolve()
  private position = 0

  private constructor(private readonly handle: FileHandle) {}

  /** Creates (or truncates) the file at `path`. */
  static async open(path: string): Promise<GroupWriter> {
    return new GroupWriter(await open(path, 'w'))
  }

  /** Appends `bytes`; resolves once they are written and synced. */
  append(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ bytes, resolve, reject })
      if (this.busy) return
      this.busy = true
      // Appends made in the same synchronous run join the first write.
      this.draining = Promise.resolve().then(() => this.drain())
    })
  }

  /** Appends `bytes` without waiting or syncing: they are written with the next synced append. */
  appendLazy(bytes: Buffer): void {
    this.lazy.push(bytes)
  }

  /** Waits for the appends in progress, writes what is lazy, then closes the file. */
  async close(): Promise<void> {
    await this.draining
    const rest = Buffer.concat(this.lazy)
    this.lazy = []
    if (rest.length > 0) await this.handle.write(rest, 0, rest.length, this.position)
    await this.handle.close()
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting
      this.waiting = []
      const lazy = this.lazy
      this.lazy = []
      const data = Buffer.concat([...lazy, ...batch.map((waiter) => waiter.bytes)])
      try {
        await this.handle.write(data, 0, data.length, this.position)
        await this.handle.datasync()
      } catch (error) {
        for (const waiter of batch) waiter.reject(error)
        continue
      }
      this.position += data.length
      this.syncs += 1
      for (const waiter of batch) waiter.resolve()
    }
    this.busy = false
  }
}
