import type { TxId } from '../core/types.js'

/**
 * What a log leaves live, kept up to date one record at a time: a value for each record not
 * forgotten, in append order, and how many frames (records and forget notes) a file of it holds.
 * `replayEntries` keeps the records themselves in one, as does `MemoryLog`; `FileLog` keeps the JSON
 * of each live record, so that compaction writes the live records without reading the file.
 * Nothing of a forgotten transaction is kept. Values are never `undefined` (an empty slot is).
 */
export class LiveSet<T> {
  private frameCount = 0
  private liveCount = 0
  /** The value of each record applied, in file order; a forgotten record leaves its slot empty. */
  private slots: (T | undefined)[] = []
  /** The slots of each transaction with live records. */
  private slotsByTx = new Map<TxId, number[]>()

  /** Frames applied since the file began or was last compacted: records and forget notes, live or not. */
  get frames(): number {
    return this.frameCount
  }

  /** Live records. */
  get size(): number {
    return this.liveCount
  }

  /** Applies a record frame of `txId`. */
  add(txId: TxId, value: T): void {
    const slot = this.slots.push(value) - 1
    const slots = this.slotsByTx.get(txId)
    if (slots === undefined) this.slotsByTx.set(txId, [slot])
    else slots.push(slot)
    this.frameCount += 1
    this.liveCount += 1
  }

  /** Applies a forget note: drops every record of `txId` applied before it. */
  forget(txId: TxId): void {
    this.frameCount += 1
    const slots = this.slotsByTx.get(txId)
    if (slots === undefined) return
    for (const slot of slots) this.slots[slot] = undefined
    this.liveCount -= slots.length
    this.slotsByTx.delete(txId)
    // An empty slot still costs a few bytes: drop them once they outnumber the live ones.
    if (this.slots.length > 2 * this.liveCount + 1024) this.dropEmptySlots()
  }

  /** The live values, in file order. */
  values(): T[] {
    return this.slots.filter((value): value is T => value !== undefined)
  }

  /** The transactions with live records. */
  txIds(): IterableIterator<TxId> {
    return this.slotsByTx.keys()
  }

  /**
   * Moves the records and frames into a new set, with `transform` of each value, and leaves this one
   * empty (moved rather than copied: FileLog calls it once per load, on every live record).
   */
  map<U>(transform: (value: T) => U): LiveSet<U> {
    const mapped = new LiveSet<U>()
    mapped.frameCount = this.frameCount
    mapped.liveCount = this.liveCount
    mapped.slots = this.slots.map((value) => (value === undefined ? undefined : transform(value)))
    mapped.slotsByTx = this.slotsByTx
    this.frameCount = 0
    this.liveCount = 0
    this.slots = []
    this.slotsByTx = new Map()
    return mapped
  }

  /** The file was rewritten with the live records alone. */
  compacted(): void {
    this.frameCount = this.liveCount
  }

  private dropEmptySlots(): void {
    const moved = new Int32Array(this.slots.length)
    const slots: T[] = []
    this.slots.forEach((value, slot) => {
      if (value !== undefined) moved[slot] = slots.push(value) - 1
    })
    for (const txSlots of this.slotsByTx.values()) {
      txSlots.forEach((slot, i) => {
        txSlots[i] = moved[slot] as number
      })
    }
    this.slots = slots
  }
}
