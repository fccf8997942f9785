/**
 * The one queue that releases `Ready`s (runtime, simulators, model checker): in order, none before
 * it is durable, and — issue 14 — O(1) per operation, which must not change the order across the
 * compaction of its array.
 */
import { fc, test } from '@fast-check/vitest'
import { expect } from 'vitest'
import { type QueuedItem, ReadyQueue } from '../../src/runtime/ready-queue.js'

/** Releases everything releasable now, in order. */
function drain(queue: ReadyQueue<number>): number[] {
  const released: number[] = []
  for (let item = queue.releasable; item !== undefined; item = queue.releasable) {
    queue.done(item)
    released.push(item)
  }
  return released
}

test.prop([fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 3 })), { maxLength: 3000 })])(
  'releases every item once, in push order, never before it is durable (against a plain list)',
  (steps) => {
    const queue = new ReadyQueue<number>()
    const model: { item: number; durable: boolean; queued: QueuedItem<number> }[] = []
    const released: number[] = []
    const expected: number[] = []
    steps.forEach(([durable, marks], item) => {
      model.push({ item, durable, queued: queue.push(item, durable) })
      // Mark the oldest few waiting entries durable (logs acknowledge in order): through what
      // push returned (the runtime's way) or by item (the simulators' way), which must agree.
      for (const entry of model.filter((candidate) => !candidate.durable).slice(0, marks)) {
        entry.durable = true
        if (entry.item % 2 === 0) queue.markQueuedDurable(entry.queued)
        else queue.markDurable(entry.item)
      }
      released.push(...drain(queue))
      while (model[0]?.durable) expected.push((model.shift() as { item: number }).item)
      expect(queue.size).toBe(model.length)
    })
    expect(released).toEqual(expected)
    expect(queue.items).toEqual(model.map((entry) => entry.item))
  },
)

test('a clone releases independently of its original', () => {
  const queue = new ReadyQueue<number>()
  for (let item = 0; item < 2000; item++) queue.push(item, item !== 1500)
  expect(drain(queue)).toHaveLength(1500) // past one compaction of the array
  const clone = queue.clone((item) => item)
  clone.markDurable(1500)
  expect(drain(clone)).toHaveLength(500)
  expect(queue.releasable).toBeUndefined()
  expect(queue.size).toBe(500)
})
