import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { BoundedMap } from '../../src/core/bounded-map.js'

describe('BoundedMap', () => {
  test('evicts the key inserted first; replacing a value keeps its place', () => {
    const map = new BoundedMap<string, number>(2)
    expect(map.set('a', 1)).toBeUndefined()
    expect(map.set('b', 2)).toBeUndefined()
    expect(map.set('a', 10)).toBeUndefined() // replaced: still the oldest
    expect(map.set('c', 3)).toBe(10)
    expect([map.get('a'), map.get('b'), map.get('c'), map.size]).toEqual([undefined, 2, 3, 2])
  })

  test('behaves as a list of entries trimmed from the front, whatever the sets (model-based)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer()), { maxLength: 3000 }),
        (limit, sets) => {
          const map = new BoundedMap<number, number>(limit)
          const twin = new BoundedMap<number, number>(limit)
          const model: [number, number][] = []
          for (const [key, value] of sets) {
            const at = model.findIndex(([k]) => k === key)
            let expected: number | undefined
            if (at >= 0) model[at] = [key, value]
            else {
              model.push([key, value])
              if (model.length > limit) expected = (model.shift() as [number, number])[1]
            }
            expect(map.set(key, value)).toBe(expected)
            expect(map.size).toBe(model.length)
            twin.insert(key, value) // the same entries, without reading what it evicts
            expect(twin.size).toBe(model.length)
          }
          for (let key = 0; key <= 8; key++) {
            expect(map.get(key)).toBe(model.find(([k]) => k === key)?.[1])
            expect(twin.get(key)).toBe(map.get(key))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
