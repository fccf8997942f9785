import { afterEach, describe, expect, it } from 'vitest'
import { MAX_STORED_PAYLOAD_DEPTH } from '../../src/core/payload.js'
import {
  Coordinator,
  type Json,
  MAX_MESSAGE_BYTES,
  MAX_PAYLOAD_DEPTH,
  MemoryLog,
  MemoryNetwork,
  type Message,
  Participant,
  type Transport,
} from '../../src/index.js'
import { HttpTransport, TcpTransport } from '../../src/node.js'
import { RecordingResource } from './cluster.js'

class Money {
  constructor(readonly cents: number) {}
}

function nested(levels: number): Json {
  let value: Json = 'leaf'
  for (let i = 0; i < levels; i++) value = [value]
  return value
}

const circular: Record<string, unknown> = { name: 'loop' }
circular.self = circular
const deepCircular: Record<string, unknown> = { items: [{}] }
;(deepCircular.items as Record<string, unknown>[])[0] = { back: deepCircular.items }
// biome-ignore lint/suspicious/noSparseArray: the case under test
const sparse = [1, , 3]
const named = Object.assign([1, 2], { extra: true })
const getter = Object.defineProperty({}, 'total', { get: () => 1, enumerable: true })
const hidden = Object.defineProperty({ shown: 1 }, 'hidden', { value: 2, enumerable: false })
const symbolKey = { [Symbol('k')]: 1 }

/** A coordinator over a memory network that nobody listens on: only `commit()`'s checks matter. */
async function lonelyCoordinator() {
  const net = new MemoryNetwork()
  const inner = net.connect('coord')
  const sent: Message[] = []
  const transport: Transport = {
    onMessage: (handler) => inner.onMessage(handler),
    send: (message: Message) => {
      sent.push(message)
      return inner.send(message)
    },
  }
  const coordinator = new Coordinator({ id: 'coord', transport, log: new MemoryLog() })
  await coordinator.start()
  return { coordinator, sent }
}

describe('commit() checks every payload against the payload rule before anything is sent', () => {
  it.each([
    ['a BigInt', { amount: 10n }, '$.amount', 'got a BigInt'],
    ['a BigInt deep in an array', { items: [{}, {}, {}, { price: 5n }] }, '$.items[3].price', 'got a BigInt'],
    ['a circular reference', circular, '$.self', 'got a circular reference to $'],
    [
      'a circular reference through an array',
      deepCircular,
      '$.items[0].back',
      'got a circular reference to $.items',
    ],
    ['undefined in an object', { note: undefined }, '$.note', 'got undefined'],
    ['undefined in an array', { items: [1, undefined] }, '$.items[1]', 'got undefined'],
    ['undefined as the payload', undefined, '$', 'got undefined'],
    ['a Date', { when: new Date(0) }, '$.when', 'got a Date'],
    ['a Map', { index: new Map() }, '$.index', 'got a Map'],
    ['a Set', { tags: new Set() }, '$.tags', 'got a Set'],
    ['a function', { callback: () => 1 }, '$.callback', 'got a function'],
    ['a class instance', { price: new Money(5) }, '$.price', 'got a Money'],
    ['NaN', { ratio: Number.NaN }, '$.ratio', 'got NaN'],
    ['Infinity', { limit: Number.POSITIVE_INFINITY }, '$.limit', 'got Infinity'],
    ['-Infinity', [Number.NEGATIVE_INFINITY], '$[0]', 'got -Infinity'],
    ['a symbol value', { kind: Symbol('x') }, '$.kind', 'got a symbol'],
    ['a symbol key', { meta: symbolKey }, '$.meta', 'got an object with a symbol key'],
    ['a hole in an array', { items: sparse }, '$.items[1]', 'got a hole (a sparse array)'],
    ['a named property on an array', { items: named }, '$.items.extra', 'got a named property on an array'],
    ['a getter', { order: getter }, '$.order.total', 'got a getter or setter'],
    ['a non-enumerable property', { order: hidden }, '$.order.hidden', 'got a non-enumerable property'],
    ['a key that is not an identifier', { 'unit price': 1n }, '$["unit price"]', 'got a BigInt'],
    ['a typed array', { bytes: new Uint8Array(2) }, '$.bytes', 'got a Uint8Array'],
  ] as [string, unknown, string, string][])(
    'rejects %s with INVALID_REQUEST naming the participant and the JSON path',
    async (_name, payload, path, found) => {
      const { coordinator } = await lonelyCoordinator()
      const rejection = coordinator.commit({
        participants: { 'bank-a': 1, 'bank-b': payload as Json },
        txId: 't1',
      })
      await expect(rejection).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: `Invalid payload for participant "bank-b" at ${path}: expected plain JSON (null, a boolean, a finite number, a string, an array without holes, or a plain object), ${found}`,
      })
      // The transaction never began: nothing sent, nothing logged beyond the start's epoch record.
      const stats = coordinator.stats()
      expect(Object.values(stats.messagesSent).reduce((a, b) => a + b, 0)).toBe(0)
      expect(stats.recordsAppended).toBe(1)
      expect(stats.inFlight).toBe(0)
      expect(coordinator.status('t1')).toEqual({ state: 'unknown' })
      expect(coordinator.pending()).toEqual([])
      await coordinator.close()
    },
  )

  it(`accepts ${MAX_PAYLOAD_DEPTH} levels of nesting and rejects ${MAX_PAYLOAD_DEPTH + 1}`, async () => {
    const { coordinator } = await lonelyCoordinator()
    await expect(
      coordinator.commit({ participants: { a: nested(MAX_PAYLOAD_DEPTH + 1) }, txId: 'deep' }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: `Invalid payload for participant "a" at $${'[0]'.repeat(MAX_PAYLOAD_DEPTH)}: expected a payload nested at most 64 levels deep`,
    })
    const controller = new AbortController()
    const accepted = coordinator.commit({
      participants: { a: nested(MAX_PAYLOAD_DEPTH) },
      txId: 'ok',
      signal: controller.signal,
    })
    expect(coordinator.status('ok').state).toBe('preparing')
    controller.abort()
    await expect(accepted).resolves.toEqual({ txId: 'ok', decision: 'unknown', reason: 'cancelled' })
    await coordinator.close()
  })

  it('accepts a payload that fills the prepare message to MAX_MESSAGE_BYTES and rejects one byte more', async () => {
    const { coordinator, sent } = await lonelyCoordinator()
    const ids = JSON.stringify(['big', 'coord', 'a', ['a']]).length
    const room = MAX_MESSAGE_BYTES - 256 - ids
    const tooBig = coordinator.commit({ participants: { a: 'x'.repeat(room - 1) }, txId: 'big' })
    await expect(tooBig).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: `Invalid payload for participant "a": expected at most ${room} bytes of JSON (the ${MAX_MESSAGE_BYTES}-byte limit of a \`prepare\` message, which every transport carries with its default settings, minus the message around the payload), got more; pass large data by reference`,
    })
    // Multi-byte characters count as their UTF-8 bytes: "é" is 2.
    await expect(
      coordinator.commit({ participants: { a: 'é'.repeat(Math.ceil(room / 2)) }, txId: 'big' }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    const controller = new AbortController()
    const fits = coordinator.commit({
      participants: { a: 'x'.repeat(room - 2) },
      txId: 'big',
      signal: controller.signal,
    })
    expect(coordinator.status('big').state).toBe('preparing')
    // The prepare that carries it (a probe: first contact) is within the limit, by less than the allowance.
    await expect.poll(() => sent.length).toBe(1)
    const prepareBytes = Buffer.byteLength(JSON.stringify(sent[0]))
    expect(prepareBytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
    expect(prepareBytes).toBeGreaterThan(MAX_MESSAGE_BYTES - 256)
    controller.abort()
    await expect(fits).resolves.toMatchObject({ decision: 'unknown' })
    await coordinator.close()
  })

  it('counts shared sub-values once per occurrence and stops at the size limit instead of walking them all', async () => {
    const { coordinator } = await lonelyCoordinator()
    // 2^60 leaves if expanded: JSON.stringify would never finish; the walk stops at the limit.
    let shared: Json = 'leaf'
    for (let i = 0; i < 60; i++) shared = [shared, shared]
    await expect(coordinator.commit({ participants: { a: shared } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('Invalid payload for participant "a": expected at most'),
    })
    await coordinator.close()
  })
})

// Found by review: a `signal` that is not an AbortSignal threw a plain TypeError after the
// transaction was begun, which then stayed `preparing` for good, held its admission room, and made
// close() raise an unhandled rejection; a 2,000,000-character id was reported as a payload too big.
describe('commit() refuses a bad request before beginning anything', () => {
  it.each([
    ['a string as signal', { signal: 'x' }, 'Expected `signal` to be an AbortSignal, got "x"'],
    ['a plain object as signal', { signal: {} }, 'Expected `signal` to be an AbortSignal, got an object'],
    ['a 2,000,000-character txId', { txId: 'x'.repeat(2_000_000) }, 'Expected `txId` to be a non-empty'],
    ['a txId with a lone surrogate', { txId: 'order-\uD800' }, 'Expected `txId` to be a non-empty'],
  ])('%s: INVALID_REQUEST, nothing sent, nothing pending', async (_, extra, message) => {
    const { coordinator, sent } = await lonelyCoordinator()
    const request = { txId: 't-1', participants: { a: 1, b: 2 }, ...extra } as Parameters<
      typeof coordinator.commit
    >[0]
    await expect(coordinator.commit(request)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining(message),
    })
    expect(sent).toEqual([])
    expect(coordinator.pending()).toEqual([])
    expect(coordinator.stats().inFlight).toBe(0)
    // The id was not used up: the same request with a real signal runs.
    const aborted = AbortSignal.abort()
    await expect(
      coordinator.commit({ txId: 't-1', participants: { a: 1, b: 2 }, signal: aborted }),
    ).resolves.toEqual({
      txId: 't-1',
      decision: 'abort',
      reason: 'cancelled',
    })
    await coordinator.close()
  })
})

describe('one payload rule, carried by every transport', () => {
  const open: { close(): Promise<void> }[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((node) => node.close()))
  })

  it('leaves room for the envelope in every transport: the readers accept 100 levels, TCP and HTTP 1 MiB', () => {
    // TCP's inbound gate counts the message object as level 1, HTTP's the batch array and then the
    // message: a payload of MAX_PAYLOAD_DEPTH levels arrives as at most MAX_PAYLOAD_DEPTH + 2 <= 100.
    expect(MAX_PAYLOAD_DEPTH + 2).toBeLessThanOrEqual(100)
    expect(MAX_PAYLOAD_DEPTH + 2).toBeLessThanOrEqual(MAX_STORED_PAYLOAD_DEPTH)
    // Defaults: TCP frames of 1 MiB less a 2 KiB envelope line; HTTP bodies of 1 MiB less "[]".
    expect(MAX_MESSAGE_BYTES).toBeLessThan(1024 * 1024 - 2048 - 1)
    expect(MAX_MESSAGE_BYTES).toBeLessThan(1024 * 1024 - 2)
  })

  /** A coordinator and participant `a` connected over TCP or HTTP with default limits. */
  async function connected(kind: 'tcp' | 'http'): Promise<[Transport, Transport]> {
    const secret = 'a-test-secret-of-enough-length'
    if (kind === 'tcp') {
      const a = await TcpTransport.listen({ id: 'a', listen: '127.0.0.1:0', secret })
      const coord = await TcpTransport.listen({ id: 'coord', listen: '127.0.0.1:0', secret })
      coord.setPeer('a', a.address)
      a.setPeer('coord', coord.address)
      return [coord, a]
    }
    const a = new HttpTransport({ id: 'a', secret })
    const coord = new HttpTransport({ id: 'coord', secret })
    coord.setPeer('a', await a.listen('127.0.0.1:0'))
    a.setPeer('coord', await coord.listen('127.0.0.1:0'))
    return [coord, a]
  }

  it.each(['tcp', 'http'] as const)(
    'commits the deepest and the largest payload the rule allows over %s with default limits',
    async (kind) => {
      const [coordTransport, aTransport] = await connected(kind)
      const resource = new RecordingResource()
      const received: Json[] = []
      resource.vote = (tx) => {
        received.push(tx.payload)
        return 'yes'
      }
      const participant = new Participant({ id: 'a', transport: aTransport, log: new MemoryLog(), resource })
      const coordinator = new Coordinator({
        id: 'coord',
        transport: coordTransport,
        log: new MemoryLog(),
        prepareTimeoutMs: 60_000,
      })
      open.push(coordinator, participant)
      await participant.start()
      await coordinator.start()
      const ids = JSON.stringify(['largest', 'coord', 'a', ['a']]).length
      // 4-byte characters (surrogate pairs) and escapes, so the byte count is not the character count.
      const unit = '😀"'
      const largest = unit.repeat(Math.floor((MAX_MESSAGE_BYTES - 256 - ids - 2) / 6))
      const deepest = nested(MAX_PAYLOAD_DEPTH)
      await expect(coordinator.commit({ participants: { a: deepest }, txId: 'deepest' })).resolves.toEqual({
        txId: 'deepest',
        decision: 'commit',
      })
      await expect(coordinator.commit({ participants: { a: largest }, txId: 'largest' })).resolves.toEqual({
        txId: 'largest',
        decision: 'commit',
      })
      expect(received).toEqual([deepest, largest])
      expect(coordinator.stats().sendFailures).toBe(0)
      expect(coordinator.stats().messagesDropped).toBe(0)
      expect(participant.stats().messagesDropped).toBe(0)
    },
  )
})
