/** The queue under the ready, admission and peer queues, against a plain array as the model. */
import { fc, test } from '@fast-check/vitest'
import { expect } from 'vitest'
import { Fifo } from '../../src/core/fifo.js'

const operation = fc.oneof(
  fc.record({ push: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ shift: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ removeFirst: fc.nat({ max: 3000 }) }),
  fc.record({ retainEven: fc.constant(true) }),
)

test.prop([fc.array(operation, { maxLength: 400 })])(
  'behaves as an array, across compactions',
  (operations) => {
    const fifo = new Fifo<number>()
    const model: number[] = []
    let next = 0
    for (const step of operations) {
      if ('push' in step) {
        for (let i = 0; i < step.push * 20; i++) {
          fifo.push(next)
          model.push(next++)
        }
      } else if ('shift' in step) {
        for (let i = 0; i < step.shift * 20; i++) expect(fifo.shift()).toBe(model.shift())
      } else if ('removeFirst' in step) {
        const at = model.indexOf(step.removeFirst)
        if (at >= 0) model.splice(at, 1)
        expect(fifo.removeFirst((item) => item === step.removeFirst)).toBe(at >= 0)
      } else {
        fifo.retain((item) => item % 2 === 0)
        model.splice(0, model.length, ...model.filter((item) => item % 2 === 0))
      }
      expect(fifo.size).toBe(model.length)
      expect(fifo.peek()).toBe(model[0])
      for (const offset of [0, 1, model.length >> 1, model.length - 1, model.length])
        expect(fifo.at(offset)).toBe(model[offset])
    }
    expect(fifo.toArray()).toEqual(model)
  },
)

test('keeps order and count across the compaction of its array', () => {
  const fifo = new Fifo<number>()
  for (let i = 0; i < 3000; i++) fifo.push(i)
  for (let i = 0; i < 1600; i++) expect(fifo.shift()).toBe(i) // compacts at the 1,500th
  fifo.push(3000)
  expect(fifo.size).toBe(1401)
  expect(fifo.toArray()).toEqual(Array.from({ length: 1401 }, (_, i) => 1600 + i))
})
