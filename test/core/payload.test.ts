import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { freezeJson, frozenPayloads, isDeepFrozen, jsonStringBytes } from '../../src/core/payload.js'

const transaction = { txId: 't', coordinator: 'coord' }

describe('frozenPayloads', () => {
  test('returns, by participant, a copy of each payload that is equal to it and frozen all the way down', () => {
    const participants = { 'bank-a': { items: [{ price: 5 }, null, 'x'] }, 'bank-b': 7, 'bank-c': [[true]] }
    const payloads = frozenPayloads(participants, transaction)
    expect([...payloads.keys()]).toEqual(['bank-a', 'bank-b', 'bank-c'])
    expect(Object.fromEntries(payloads)).toEqual(participants)
    expect(payloads.get('bank-a')).not.toBe(participants['bank-a'])
    for (const payload of payloads.values()) {
      expect(isDeepFrozen(payload)).toBe(true)
      expectDeepFrozen(payload)
    }
  })

  test('the caller changing its objects after the check changes nothing in what is prepared', () => {
    const item = { price: 5 }
    const order = { items: [item] }
    const payloads = frozenPayloads({ 'bank-a': order }, transaction)
    item.price = 500
    order.items.push({ price: 1 })
    expect(payloads.get('bank-a')).toEqual({ items: [{ price: 5 }] })
    expect(Object.isFrozen(order)).toBe(false)
  })

  test('a copy is what a JSON round trip would give', () => {
    const nullPrototype = Object.assign(Object.create(null), { a: 1 })
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "zero": 0}')
    payload.zero = -0
    const payloads = frozenPayloads({ a: nullPrototype, b: payload }, transaction)
    expect(Object.getPrototypeOf(payloads.get('a'))).toBe(Object.prototype)
    const copy = payloads.get('b') as Record<string, unknown>
    expect(Object.is(copy.zero, 0)).toBe(true)
    expect(Object.keys(copy)).toEqual(['__proto__', 'zero'])
    expect(JSON.stringify(copy)).toBe(JSON.stringify(payload))
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('refuses what breaks the payload rule, naming the participant and the path', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(() => frozenPayloads({ a: { list: [1, 2n] } }, transaction)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('"a" at $.list[1]'),
      }),
    )
    expect(() => frozenPayloads({ a: 1, b: cycle }, transaction)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST', message: expect.stringContaining('circular') }),
    )
  })
})

describe('isDeepFrozen and freezeJson', () => {
  test('primitives are deep-frozen; an object is only once this library froze it', () => {
    for (const value of [null, 1, 'x', true]) expect(isDeepFrozen(value)).toBe(true)
    expect(isDeepFrozen(() => {})).toBe(false)
    // Frozen by someone else, all the way down or not, an object is not vouched for.
    expect(isDeepFrozen(Object.freeze({ a: Object.freeze([1]) }))).toBe(false)
    expect(isDeepFrozen(Object.freeze({ a: [1] }))).toBe(false)
  })

  test('freezeJson freezes a tree in place, all the way down, and returns it', () => {
    const tree = JSON.parse('{"a": [{"b": {"c": []}}], "d": 1}')
    expect(freezeJson(tree)).toBe(tree)
    expect(isDeepFrozen(tree)).toBe(true)
    expectDeepFrozen(tree)
    // A part that is deep-frozen already is kept, not walked again.
    const shared = freezeJson({ x: [1] })
    const outer = freezeJson({ shared })
    expect(outer.shared).toBe(shared)
  })
})

/** Asserts that every object reachable from `value` is frozen. */
function expectDeepFrozen(value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  expect(Object.isFrozen(value)).toBe(true)
  for (const child of Object.values(value)) expectDeepFrozen(child)
}

describe('jsonStringBytes', () => {
  test('counts exactly the UTF-8 bytes of JSON.stringify, escapes and lone surrogates included', () => {
    const awkward = [
      '',
      'a"b\\c',
      '\b\t\n\f\r\u0000\u001f\u007f',
      'é€😀',
      '\ud800',
      'x\udc00y',
      '\ud83d\ude00\ud83d',
    ]
    for (const text of awkward) expect(jsonStringBytes(text), JSON.stringify(text)).toBe(utf8Bytes(text))
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => jsonStringBytes(text) === utf8Bytes(text)),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) }),
        (text) => jsonStringBytes(text) === utf8Bytes(text),
      ),
      { numRuns: 2000 },
    )
  })
})

function utf8Bytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text))
}
