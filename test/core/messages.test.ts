import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import { TwopcError } from '../../src/core/errors.js'
import { type Message, parseMessage } from '../../src/core/messages.js'
import { freezeJson } from '../../src/core/payload.js'
import { CREATED_RECORD_TX_ID, incarnationTxId, type LogRecord, parseRecord } from '../../src/core/records.js'
import { MAX_ID_LENGTH, type NodeId } from '../../src/core/types.js'
import { isId, isTxId, sealMessage } from '../../src/core/validate.js'
import { C, coordinator, P1, P2, P3, participant } from './helpers.js'

// -----------------------------------------------------------------------------------------------
// Arbitraries of valid messages and records

const idArbitrary = fc
  .string({
    unit: fc.oneof(fc.constantFrom('a', 'b', '-', '1'), fc.string({ unit: 'grapheme', maxLength: 1 })),
    minLength: 1,
    maxLength: MAX_ID_LENGTH,
  })
  .filter(isId)
/** A transaction id: an id that does not start with `~` (reserved for the `created` record), though it may contain one. */
const txIdArbitrary = fc
  .oneof(
    idArbitrary,
    idArbitrary.map((id) => `t~${id}`.slice(0, MAX_ID_LENGTH)),
  )
  .filter(isTxId)
/** An id starting with `~`: a valid node id, but never a valid transaction id. */
const reservedTxIdArbitrary = idArbitrary.map((id) => `~${id}`.slice(0, MAX_ID_LENGTH)).filter(isId)
const idsArbitrary = fc.uniqueArray(idArbitrary, { minLength: 1, maxLength: 5 })
const decisionArbitrary = fc.constantFrom('commit' as const, 'abort' as const)

/**
 * A payload as it comes back from JSON: `fc.jsonValue()` may draw `-0`, which JSON writes as `0`,
 * so a round trip would not give back an equal value.
 */
const payloadArbitrary = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)))

const header = { v: fc.constant(2 as const), txId: txIdArbitrary, from: idArbitrary, to: idArbitrary }

const incArbitrary = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })

/** What binds a prepare (or a one-phase abort request) to a participant's life and the coordinator's order. */
const ticketFields = {
  inc: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  epoch: incArbitrary,
  seq: incArbitrary,
}

const messageArbitrary: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    ...header,
    type: fc.constant('prepare' as const),
    payload: payloadArbitrary,
    participants: idsArbitrary,
    onePhase: fc.boolean(),
    ...ticketFields,
  }),
  fc.record({
    ...header,
    type: fc.constant('vote' as const),
    vote: fc.constantFrom('yes' as const, 'no' as const, 'read-only' as const),
    inc: incArbitrary,
  }),
  // A refusal: a `no` flagged refused.
  fc.record({
    ...header,
    type: fc.constant('vote' as const),
    vote: fc.constant('no' as const),
    inc: incArbitrary,
    refused: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  }),
  // A one-phase participant's vote: flagged. The flag is present only when true.
  fc.record({
    ...header,
    type: fc.constant('vote' as const),
    vote: fc.constantFrom('yes' as const, 'no' as const, 'read-only' as const),
    inc: incArbitrary,
    onePhase: fc.constant(true as const),
  }),
  fc.record({ ...header, type: fc.constant('commit' as const) }),
  fc.record({ ...header, type: fc.constant('abort' as const) }),
  // A one-phase coordinator's abort request.
  fc.record({
    ...header,
    type: fc.constant('abort' as const),
    onePhase: fc.constant(true as const),
    ticket: fc.record(ticketFields),
  }),
  fc.record({ ...header, type: fc.constant('ack' as const), inc: incArbitrary }),
  fc.record({
    ...header,
    type: fc.constant('ack' as const),
    inc: incArbitrary,
    heuristic: decisionArbitrary,
  }),
  fc.record({ ...header, type: fc.constant('decision-request' as const), inc: incArbitrary }),
) as fc.Arbitrary<Message>

const recordArbitrary: fc.Arbitrary<LogRecord> = fc.oneof(
  fc.record({ type: fc.constant('commit' as const), txId: txIdArbitrary, participants: idsArbitrary }),
  fc.record({ type: fc.constant('end' as const), txId: txIdArbitrary }),
  fc.record({
    type: fc.constant('prepared' as const),
    txId: txIdArbitrary,
    coordinator: idArbitrary,
    participants: idsArbitrary,
    payload: payloadArbitrary,
    onePhase: fc.boolean(),
  }),
  fc.record({ type: fc.constant('outcome' as const), txId: txIdArbitrary, decision: decisionArbitrary }),
  fc.record({
    type: fc.constant('outcome' as const),
    txId: txIdArbitrary,
    decision: decisionArbitrary,
    heuristic: fc.string({ minLength: 1, maxLength: 50 }),
  }),
  fc.record({ type: fc.constant('created' as const), txId: fc.constant(CREATED_RECORD_TX_ID) }),
  // A node's life number n, and the end that lets compaction drop it once a later one is durable.
  fc
    .tuple(incArbitrary, idArbitrary, fc.constantFrom('coordinator' as const, 'participant' as const))
    .map(([n, node, role]) => ({ type: 'incarnation' as const, txId: incarnationTxId(n), n, node, role })),
  incArbitrary.map((n) => ({ type: 'end' as const, txId: incarnationTxId(n) })),
) as fc.Arbitrary<LogRecord>

/** The reserved ids of the records a node writes about itself, not about a transaction. */
function isReservedRecord(record: LogRecord): boolean {
  return record.txId.startsWith('~')
}

/** A field name that no message or record has. */
const extraKeyArbitrary = fc
  .string({ minLength: 1, maxLength: 12 })
  .filter(
    (key) =>
      ![
        'v',
        'type',
        'txId',
        'from',
        'to',
        'payload',
        'participants',
        'onePhase',
        'vote',
        'heuristic',
        'coordinator',
        'decision',
        'inc',
        'epoch',
        'seq',
        'refused',
        'ticket',
        'n',
        '__proto__',
      ].includes(key),
  )

/** Mutations of a valid object: one field deleted, or replaced by anything. */
function mutated<T extends object>(valid: fc.Arbitrary<T>) {
  return valid.chain((value) =>
    fc.record({
      original: fc.constant(value),
      field: fc.constantFrom(...Object.keys(value)),
      replacement: fc.option(fc.anything(), { nil: undefined }),
      remove: fc.boolean(),
    }),
  )
}

// -----------------------------------------------------------------------------------------------
// The oracle: what a parser may throw

function expectOnlyCode(
  fn: () => unknown,
  code: 'INVALID_MESSAGE' | 'INVALID_RECORD',
): TwopcError | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(TwopcError)
    expect((error as TwopcError).code).toBe(code)
    return error as TwopcError
  }
}

describe('parseMessage', () => {
  test.prop([fc.anything()], { numRuns: 500 })(
    'on anything, it throws nothing but INVALID_MESSAGE',
    (value) => {
      expectOnlyCode(() => parseMessage(value), 'INVALID_MESSAGE')
    },
  )

  test.prop([fc.jsonValue()], { numRuns: 500 })(
    'on any JSON value, it throws nothing but INVALID_MESSAGE',
    (value) => {
      expectOnlyCode(() => parseMessage(value), 'INVALID_MESSAGE')
    },
  )

  test.prop([messageArbitrary])('a valid message round-trips through JSON unchanged', (message) => {
    const parsed = parseMessage(JSON.parse(JSON.stringify(message)))
    expect(parsed).toEqual(message)
    expect(parseMessage(parsed)).toEqual(parsed)
  })

  test.prop([messageArbitrary, fc.dictionary(extraKeyArbitrary, fc.jsonValue(), { minKeys: 1, maxKeys: 3 })])(
    'extra fields are stripped',
    (message, extra) => {
      const parsed = parseMessage({ ...extra, ...message })
      expect(parsed).toEqual(message)
      expect(Object.keys(parsed).sort()).toEqual(Object.keys(message).sort())
    },
  )

  test.prop([mutated(messageArbitrary)], { numRuns: 500 })(
    'a message with one field deleted or replaced parses, or fails with INVALID_MESSAGE naming that field',
    ({ original, field, replacement, remove }) => {
      const candidate: Record<string, unknown> = { ...original }
      if (remove) delete candidate[field]
      else candidate[field] = replacement
      const error = expectOnlyCode(() => parseMessage(candidate), 'INVALID_MESSAGE')
      // Changing `type` can make another field the first one missing; any other field is checked by name.
      // The ticket is a nested object: the error names it as "message ticket", or the field in it at
      // fault. A refusal's `vote` changed to another valid vote makes `refused` the field at fault.
      if (error !== undefined && field === 'ticket') expect(error.message).toContain('message ticket')
      else if (error !== undefined && field === 'vote' && 'refused' in original)
        expect(error.message).toMatch(/`vote`|`refused`/)
      else if (error !== undefined && field !== 'type') expect(error.message).toContain(`\`${field}\``)
      if (error === undefined) expect(parseMessage(parseMessage(candidate))).toEqual(parseMessage(candidate))
    },
  )

  test('the error names the field, the value found and what was expected', () => {
    const error = expectOnlyCode(
      () => parseMessage({ v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'maybe', inc: 1 }),
      'INVALID_MESSAGE',
    )
    expect(error?.message).toBe(
      "Invalid message: expected `vote` to be one of 'yes', 'no', 'read-only', got \"maybe\"",
    )
  })

  /** A valid prepare's fields, ticket included, to spoil one at a time. */
  const prepare = {
    v: 2,
    type: 'prepare',
    txId: 't',
    from: 'a',
    to: 'b',
    payload: 1,
    participants: ['b'],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  } as const
  const ticket = { inc: 1, epoch: 1, seq: 1 } as const
  const abortRequest = { v: 2, type: 'abort', txId: 't', from: 'a', to: 'b', onePhase: true, ticket } as const

  test.each([
    ['v', { v: 1, type: 'ack', txId: 't', from: 'a', to: 'b', inc: 1 }],
    ['v', { v: 3, type: 'ack', txId: 't', from: 'a', to: 'b', inc: 1 }],
    ['type', { v: 2, type: 'ACK', txId: 't', from: 'a', to: 'b', inc: 1 }],
    ['txId', { v: 2, type: 'ack', txId: '', from: 'a', to: 'b', inc: 1 }],
    ['txId', { v: 2, type: 'ack', txId: 'x'.repeat(MAX_ID_LENGTH + 1), from: 'a', to: 'b', inc: 1 }],
    ['from', { v: 2, type: 'ack', txId: 't', from: 'a\u0000', to: 'b', inc: 1 }],
    // A lone surrogate: UTF-8 turns each into U+FFFD, so these two ids would become the same bytes
    // (found by review: the same PostgreSQL gid for two transactions).
    ['txId', { v: 2, type: 'ack', txId: 'order-42-\uD800', from: 'a', to: 'b', inc: 1 }],
    ['txId', { v: 2, type: 'ack', txId: 'order-42-\uDBFF', from: 'a', to: 'b', inc: 1 }],
    ['to', { v: 2, type: 'ack', txId: 't', from: 'a', to: '\uDC00b', inc: 1 }],
    ['to', { v: 2, type: 'ack', txId: 't', from: 'a', inc: 1 }],
    ['participants', { ...prepare, participants: ['b', 'b'] }],
    ['participants', { ...prepare, participants: [] }],
    ['payload', { ...prepare, payload: undefined }],
    // What JSON.stringify would drop or change, from a custom transport that hands over objects:
    // logged, it could not be read back (found by review).
    ['payload', { ...prepare, payload: () => 1 }],
    ['payload', { ...prepare, payload: Symbol('x') }],
    ['payload', { ...prepare, payload: { at: new Date(0) } }],
    ['payload', { ...prepare, payload: [1, Number.NaN] }],
    ['payload', { ...prepare, payload: { a: { b: undefined } } }],
    ['payload', { ...prepare, payload: { n: 10n } }],
    ['payload', { ...prepare, payload: new (class Work {})() }],
    ['onePhase', { ...prepare, payload: null, onePhase: 'no' }],
    ['heuristic', { v: 2, type: 'ack', txId: 't', from: 'a', to: 'b', inc: 1, heuristic: 'maybe' }],
    // The sender's incarnation on what only participants send: an integer of at least 1.
    ['inc', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes', inc: 0 }],
    ['inc', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'no' }],
    ['inc', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes', inc: 1.5 }],
    ['inc', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes', inc: '1' }],
    ['inc', { v: 2, type: 'ack', txId: 't', from: 'a', to: 'b' }],
    ['inc', { v: 2, type: 'ack', txId: 't', from: 'a', to: 'b', inc: -1 }],
    ['inc', { v: 2, type: 'decision-request', txId: 't', from: 'a', to: 'b', inc: 0 }],
    [
      'inc',
      { v: 2, type: 'decision-request', txId: 't', from: 'a', to: 'b', inc: Number.MAX_SAFE_INTEGER + 1 },
    ],
    // A prepare's ticket: inc from 0 (a probe), epoch and seq from 1.
    ['inc', { ...prepare, inc: -1 }],
    ['inc', { ...prepare, inc: undefined }],
    ['inc', { ...prepare, inc: null }],
    ['epoch', { ...prepare, epoch: 0 }],
    ['epoch', { ...prepare, epoch: undefined }],
    ['epoch', { ...prepare, epoch: 2.5 }],
    ['seq', { ...prepare, seq: 0 }],
    ['seq', { ...prepare, seq: 1.5 }],
    ['seq', { ...prepare, seq: '1' }],
    ['seq', { ...prepare, seq: undefined }],
    ['seq', { ...prepare, seq: Number.POSITIVE_INFINITY }],
    // The ticket of a one-phase abort request, field by field.
    ['inc', { ...abortRequest, ticket: { ...ticket, inc: -1 } }],
    ['epoch', { ...abortRequest, ticket: { ...ticket, epoch: 0 } }],
    ['seq', { ...abortRequest, ticket: { ...ticket, seq: 1.5 } }],
    ['seq', { ...abortRequest, ticket: { inc: 1, epoch: 1 } }],
    // `refused`: only on a two-phase `no`, an integer of at least 0.
    ['refused', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes', inc: 1, refused: 0 }],
    ['refused', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'read-only', inc: 1, refused: 1 }],
    [
      'refused',
      { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'no', inc: 1, onePhase: true, refused: 0 },
    ],
    ['refused', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'no', inc: 1, refused: -1 }],
    ['refused', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'no', inc: 1, refused: 1.5 }],
    ['refused', { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'no', inc: 1, refused: null }],
  ])('a bad `%s` is rejected by name', (field, value) => {
    expect(expectOnlyCode(() => parseMessage(value), 'INVALID_MESSAGE')?.message).toContain(`\`${field}\``)
  })

  test.each([undefined, null, 1, 'ticket', [1, 1, 1]])(
    'a one-phase abort request whose ticket is %j is rejected, naming the ticket',
    (value) => {
      const error = expectOnlyCode(() => parseMessage({ ...abortRequest, ticket: value }), 'INVALID_MESSAGE')
      // The ticket is a nested object: the error names it as the object it expected ("message ticket").
      expect(error?.message).toMatch(/`ticket`|message ticket/)
    },
  )

  test('a probe (a prepare bound to no incarnation yet, inc 0) and a refusal of one (refused 0) parse', () => {
    const probe = { ...prepare, inc: 0, epoch: 3, seq: 7 }
    expect(parseMessage(probe)).toEqual(probe)
    const refusal = {
      v: 2,
      type: 'vote',
      txId: 't',
      from: 'b',
      to: 'a',
      vote: 'no',
      inc: 4,
      refused: 0,
    } as const
    expect(parseMessage(refusal)).toEqual(refusal)
    expect(parseMessage({ ...refusal, refused: 3 })).toEqual({ ...refusal, refused: 3 })
    // An absent `refused` is a plain no.
    const { refused: _, ...no } = refusal
    expect(parseMessage({ ...refusal, refused: undefined })).toEqual(no)
    expect(Object.keys(parseMessage(no))).not.toContain('refused')
  })

  test('a two-phase abort carries no ticket: one sent along is stripped', () => {
    const abort = { v: 2, type: 'abort', txId: 't', from: 'a', to: 'b' } as const
    expect(parseMessage({ ...abort, ticket })).toEqual(abort)
    // Even a malformed one: it is not a field of a two-phase abort.
    expect(parseMessage({ ...abort, ticket: 'junk' })).toEqual(abort)
  })

  test('the ticket of a one-phase abort request is a copy of its known fields', () => {
    const sent: Record<string, number> = { ...ticket, extra: 1 }
    const parsed = parseMessage({ ...abortRequest, ticket: sent })
    expect(parsed).toEqual(abortRequest)
    sent.seq = 9
    expect(parsed.type === 'abort' && parsed.ticket).toEqual(ticket)
  })

  test.prop([messageArbitrary, reservedTxIdArbitrary])(
    'a transaction id starting with ~ is rejected with INVALID_MESSAGE naming `txId`',
    (message, txId) => {
      const error = expectOnlyCode(() => parseMessage({ ...message, txId }), 'INVALID_MESSAGE')
      expect(error?.message).toContain('`txId`')
    },
  )

  test.each(['~', '~log', '~a'])(
    'the transaction id %j is rejected, even the one of the created record',
    (txId) => {
      const error = expectOnlyCode(
        () => parseMessage({ v: 2, type: 'ack', txId, from: 'a', to: 'b', inc: 1 }),
        'INVALID_MESSAGE',
      )
      expect(error?.message).toContain('`txId`')
      // Node ids may start with ~: the reservation is for transaction ids only.
      expect(parseMessage({ v: 2, type: 'ack', txId: 't', from: txId, to: txId, inc: 1 })).toEqual({
        v: 2,
        type: 'ack',
        txId: 't',
        from: txId,
        to: txId,
        inc: 1,
      })
      // A ~ further in is fine.
      expect(parseMessage({ v: 2, type: 'ack', txId: `t${txId}`, from: 'a', to: 'b', inc: 1 }).txId).toBe(
        `t${txId}`,
      )
    },
  )

  describe('the onePhase flag of votes and aborts', () => {
    const vote = { v: 2, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes', inc: 1 } as const
    const abort = { v: 2, type: 'abort', txId: 't', from: 'a', to: 'b' } as const
    /** What a flagged message carries besides the flag: a one-phase abort request needs its ticket. */
    const withFlag = { vote: {}, abort: { ticket: { inc: 1, epoch: 1, seq: 1 } } } as const

    test.each([vote, abort])('true is kept on a $type', (message) => {
      const flagged = { ...message, onePhase: true, ...withFlag[message.type] }
      expect(parseMessage(flagged)).toEqual(flagged)
    })

    test.each([vote, abort])('false or absent parses to a $type without the field', (message) => {
      for (const candidate of [
        message,
        { ...message, onePhase: false },
        { ...message, onePhase: undefined },
        // A ticket is a field of the one-phase abort request only.
        { ...message, onePhase: false, ...withFlag[message.type] },
      ]) {
        const parsed = parseMessage(candidate)
        expect(parsed).toEqual(message)
        expect(Object.keys(parsed)).not.toContain('onePhase')
        expect(Object.keys(parsed)).not.toContain('ticket')
      }
    })

    test.each([
      ['vote', 'yes'],
      ['vote', 1],
      ['vote', null],
      ['abort', 'true'],
      ['abort', 0],
      ['abort', {}],
    ] as const)('on a %s, %j is rejected with INVALID_MESSAGE naming `onePhase`', (type, value) => {
      const message = type === 'vote' ? vote : abort
      const error = expectOnlyCode(() => parseMessage({ ...message, onePhase: value }), 'INVALID_MESSAGE')
      expect(error?.message).toContain('`onePhase`')
      expect(error?.message).toContain('true, false or absent')
    })

    test.each(['commit', 'ack', 'decision-request'] as const)(
      'on a %s, the flag is not a field of the message and is stripped',
      (type) => {
        const header = { v: 2, type, txId: 't', from: 'a', to: 'b' } as const
        const message = type === 'commit' ? header : { ...header, inc: 1 }
        expect(parseMessage({ ...message, onePhase: true })).toEqual(message)
        expect(parseMessage({ ...message, onePhase: 'anything' })).toEqual(message)
      },
    )
  })

  test('a null payload is present', () => {
    const message = {
      v: 2,
      type: 'prepare',
      txId: 't',
      from: 'a',
      to: 'b',
      payload: null,
      participants: ['b'],
      onePhase: true,
      inc: 1,
      epoch: 1,
      seq: 1,
    }
    expect(parseMessage(message)).toEqual(message)
  })

  test('the parsed participant list is a copy', () => {
    const participants = ['b', 'c']
    const parsed = parseMessage({
      v: 2,
      type: 'prepare',
      txId: 't',
      from: 'a',
      to: 'b',
      payload: 1,
      participants,
      onePhase: false,
      inc: 1,
      epoch: 1,
      seq: 1,
    })
    participants.push('d')
    expect(parsed.type === 'prepare' && parsed.participants).toEqual(['b', 'c'])
  })
})

describe('sealed messages: validated once, at a transport edge', () => {
  const prepare = {
    v: 2,
    txId: 't',
    from: 'a',
    to: 'b',
    type: 'prepare',
    payload: { items: [{ price: 5 }] },
    participants: ['b', 'c'],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  } as const

  test.prop([messageArbitrary])(
    'a sealed message is frozen all the way down and parses as itself',
    (message) => {
      const sealed = sealMessage(parseMessage(JSON.parse(JSON.stringify(message))))
      expect(sealed).toEqual(message)
      expectDeepFrozen(sealed)
      expect(parseMessage(sealed)).toBe(sealed)
    },
  )

  test('a message that is not sealed is validated in full, whoever froze it', () => {
    const sealed = sealMessage(parseMessage(structuredClone(prepare)))
    // A full parse builds a new message; only a sealed one comes back as itself.
    const equal = structuredClone(sealed)
    expect(parseMessage(equal)).not.toBe(equal)
    expect(parseMessage(equal)).toEqual(sealed)
    // A proxy of a sealed message is not sealed: every field is read again.
    const reads = new Set<PropertyKey>()
    const spied = new Proxy(sealed, {
      get: (target, key, receiver) => {
        reads.add(key)
        return Reflect.get(target, key, receiver)
      },
    })
    expect(parseMessage(spied)).toEqual(sealed)
    expect(reads).toEqual(new Set(Object.keys(prepare)))
    // Frozen by its sender, all the way down, a malformed message is still refused.
    const malformed = deepFreeze({ ...structuredClone(prepare), participants: ['b', 'b'] })
    expect(() => parseMessage(malformed)).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }))
  })

  test('sealing freezes what was checked, so nothing can make a sealed message malformed', () => {
    const sealed = sealMessage(parseMessage(structuredClone(prepare)))
    if (sealed.type !== 'prepare') throw new Error('expected a prepare')
    expect(() => {
      ;(sealed as { txId: string }).txId = ''
    }).toThrow(TypeError)
    expect(() => (sealed.participants as string[]).push('b')).toThrow(TypeError)
    expect(() => {
      ;(sealed.payload as { items: unknown[] }).items.push({})
    }).toThrow(TypeError)
    expect(parseMessage({ ...sealed })).toEqual(prepare)
  })

  test('a payload deep-frozen already is sealed as it is, not walked or copied', () => {
    const payload = freezeJson({ items: [1, 2] })
    const sealed = sealMessage(parseMessage({ ...prepare, payload }))
    expect(sealed.type === 'prepare' && sealed.payload).toBe(payload)
  })
})

/** Asserts that every object reachable from `value` is frozen. */
function expectDeepFrozen(value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  expect(Object.isFrozen(value)).toBe(true)
  for (const child of Object.values(value)) expectDeepFrozen(child)
}

/** Freezes `value` and everything in it, as a careful sender might: not a seal. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

describe('parseRecord', () => {
  test.prop([fc.anything()], { numRuns: 500 })(
    'on anything, it throws nothing but INVALID_RECORD',
    (value) => {
      expectOnlyCode(() => parseRecord(value), 'INVALID_RECORD')
    },
  )

  test.prop([fc.jsonValue()], { numRuns: 500 })(
    'on any JSON value, it throws nothing but INVALID_RECORD',
    (value) => {
      expectOnlyCode(() => parseRecord(value), 'INVALID_RECORD')
    },
  )

  test.prop([recordArbitrary])('a valid record round-trips through JSON unchanged', (record) => {
    expect(parseRecord(JSON.parse(JSON.stringify(record)))).toEqual(record)
  })

  test.prop([recordArbitrary, fc.dictionary(extraKeyArbitrary, fc.jsonValue(), { minKeys: 1, maxKeys: 3 })])(
    'extra fields are stripped',
    (record, extra) => {
      expect(parseRecord({ ...extra, ...record })).toEqual(record)
    },
  )

  test.prop([mutated(recordArbitrary)], { numRuns: 500 })(
    'a record with one field deleted or replaced parses, or fails with INVALID_RECORD naming that field',
    ({ original, field, replacement, remove }) => {
      const candidate: Record<string, unknown> = { ...original }
      if (remove) delete candidate[field]
      else candidate[field] = replacement
      const error = expectOnlyCode(() => parseRecord(candidate), 'INVALID_RECORD')
      // An incarnation record's `n` and `txId` must agree: another valid `n` makes `txId` the one at fault.
      if (error !== undefined && field === 'n') expect(error.message).toMatch(/`n`|`txId`/)
      else if (error !== undefined && field !== 'type') expect(error.message).toContain(`\`${field}\``)
    },
  )

  test('the error names the field, the value found and what was expected', () => {
    expect(
      expectOnlyCode(() => parseRecord({ type: 'outcome', txId: 't', decision: 'maybe' }), 'INVALID_RECORD')
        ?.message,
    ).toBe("Invalid log record: expected `decision` to be one of 'commit', 'abort', got \"maybe\"")
  })

  test('the created record parses, with exactly its reserved transaction id', () => {
    expect(CREATED_RECORD_TX_ID).toBe('~log')
    expect(parseRecord({ type: 'created', txId: '~log' })).toEqual({ type: 'created', txId: '~log' })
    expect(parseRecord({ type: 'created', txId: '~log', extra: 1 })).toEqual({
      type: 'created',
      txId: '~log',
    })
    for (const txId of ['t', '~', '~log2', '~LOG', ' ~log', undefined, 42]) {
      const error = expectOnlyCode(() => parseRecord({ type: 'created', txId }), 'INVALID_RECORD')
      expect(error?.message, String(txId)).toContain('`txId`')
    }
  })

  test('the read-only-voter record of earlier versions is no longer a record type', () => {
    const error = expectOnlyCode(() => parseRecord({ type: 'read-only-voter', txId: 't' }), 'INVALID_RECORD')
    expect(error?.message).toContain('`type`')
  })

  test.prop([
    recordArbitrary.filter((record) => !isReservedRecord(record)),
    reservedTxIdArbitrary.filter((txId) => !/^~inc:/.test(txId)),
  ])(
    'a transaction record whose txId starts with ~ is rejected with INVALID_RECORD naming `txId`',
    (record, txId) => {
      const error = expectOnlyCode(() => parseRecord({ ...record, txId }), 'INVALID_RECORD')
      expect(error?.message).toContain('`txId`')
    },
  )

  test.each(['commit', 'end', 'prepared', 'outcome'])(
    'a %s record cannot take the created record’s transaction id',
    (type) => {
      const error = expectOnlyCode(
        () =>
          parseRecord({
            type,
            txId: CREATED_RECORD_TX_ID,
            participants: ['a'],
            coordinator: 'c',
            payload: null,
            onePhase: false,
            decision: 'abort',
          }),
        'INVALID_RECORD',
      )
      expect(error?.message).toContain('`txId`')
    },
  )

  test('the incarnation record parses, with exactly the transaction id of its number', () => {
    expect(incarnationTxId(3)).toBe('~inc:3')
    const owner = { node: 'bank-a', role: 'participant' }
    expect(parseRecord({ type: 'incarnation', txId: '~inc:1', n: 1, ...owner })).toEqual({
      type: 'incarnation',
      txId: '~inc:1',
      n: 1,
      node: 'bank-a',
      role: 'participant',
    })
    expect(
      parseRecord({
        type: 'incarnation',
        txId: '~inc:12',
        n: 12,
        node: 'coord',
        role: 'coordinator',
        extra: 1,
      }),
    ).toEqual({
      type: 'incarnation',
      txId: '~inc:12',
      n: 12,
      node: 'coord',
      role: 'coordinator',
    })
    for (const n of [0, -1, 1.5, '1', undefined, null, Number.MAX_SAFE_INTEGER + 1]) {
      const error = expectOnlyCode(
        () => parseRecord({ type: 'incarnation', txId: `~inc:${n}`, n, ...owner }),
        'INVALID_RECORD',
      )
      expect(error?.message, String(n)).toContain('`n`')
    }
    for (const txId of ['~inc:2', '~inc:01', '~inc:', '~log', 't', undefined, 1]) {
      const error = expectOnlyCode(
        () => parseRecord({ type: 'incarnation', txId, n: 1, ...owner }),
        'INVALID_RECORD',
      )
      expect(error?.message, String(txId)).toContain('`txId`')
    }
  })

  test('the incarnation record names its owner: a node id and a role, both required', () => {
    const record = { type: 'incarnation', txId: '~inc:1', n: 1, node: 'bank-a', role: 'participant' }
    for (const node of [undefined, '', 1, 'x'.repeat(1000)]) {
      const error = expectOnlyCode(() => parseRecord({ ...record, node }), 'INVALID_RECORD')
      expect(error?.message, String(node)).toContain('`node`')
    }
    for (const role of [undefined, 'resource', 'Coordinator', 1]) {
      const error = expectOnlyCode(() => parseRecord({ ...record, role }), 'INVALID_RECORD')
      expect(error?.message, String(role)).toContain("one of 'coordinator', 'participant'")
    }
  })

  test('an end record may end an incarnation record; no other record takes its transaction id', () => {
    expect(parseRecord({ type: 'end', txId: '~inc:4' })).toEqual({ type: 'end', txId: '~inc:4' })
    for (const txId of ['~inc:0', '~inc:', '~inc:x', '~inc:01']) {
      const error = expectOnlyCode(() => parseRecord({ type: 'end', txId }), 'INVALID_RECORD')
      expect(error?.message, txId).toContain('`txId`')
    }
    for (const type of ['commit', 'prepared', 'outcome']) {
      const error = expectOnlyCode(
        () =>
          parseRecord({
            type,
            txId: incarnationTxId(1),
            participants: ['a'],
            coordinator: 'c',
            payload: null,
            onePhase: false,
            decision: 'abort',
          }),
        'INVALID_RECORD',
      )
      expect(error?.message, type).toContain('`txId`')
    }
  })
})

describe('feeding parsed messages to the cores', () => {
  const nodes: NodeId[] = [C, P1, P2, P3]
  /**
   * Messages between the nodes of the unit tests, about a handful of transactions, so that some are
   * routed; with small incarnations, epochs and sequence numbers, so that some are for the current
   * life of their recipient (and acted on) and some are not (and refused or dropped as stale).
   */
  const routedArbitrary: fc.Arbitrary<Message> = messageArbitrary.chain((message) =>
    fc
      .record({
        txId: fc.constantFrom('t1', 't2', 't3'),
        from: fc.constantFrom(...nodes),
        to: fc.constantFrom(...nodes),
        participants: fc.shuffledSubarray([P1, P2, P3], { minLength: 1 }),
        inc: fc.integer({ min: 1, max: 3 }),
        ticket: fc.record({
          inc: fc.integer({ min: 0, max: 3 }),
          epoch: fc.integer({ min: 1, max: 2 }),
          seq: fc.integer({ min: 1, max: 4 }),
        }),
      })
      .map(({ txId, from, to, participants, inc, ticket }) => {
        const routed = { ...message, txId, from, to }
        switch (routed.type) {
          case 'prepare':
            return parseMessage({
              ...routed,
              participants,
              onePhase: routed.onePhase && participants.length === 1,
              ...ticket,
            })
          case 'vote':
            return parseMessage(
              routed.refused === undefined ? { ...routed, inc } : { ...routed, inc, refused: ticket.inc },
            )
          case 'ack':
          case 'decision-request':
            return parseMessage({ ...routed, inc })
          case 'abort':
            return parseMessage(routed.onePhase ? { ...routed, ticket } : routed)
          default:
            return parseMessage(routed)
        }
      }),
  )
  const inputArbitrary = fc.oneof(
    { weight: 6, arbitrary: routedArbitrary.map((message) => ({ kind: 'message' as const, message })) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('timer' as const),
        txId: fc.constantFrom('t1', 't2', 't3'),
        timer: fc.constantFrom(
          'prepare-timeout' as const,
          'retransmit' as const,
          'decision-request' as const,
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('prepare-result' as const),
        txId: fc.constantFrom('t1', 't2', 't3'),
        vote: fc.constantFrom('yes' as const, 'no' as const, 'read-only' as const),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('applied' as const),
        txId: fc.constantFrom('t1', 't2', 't3'),
      }),
    },
  )

  test.prop([fc.array(inputArbitrary, { maxLength: 60 })], { numRuns: 300 })(
    'a coordinator never throws on any sequence of messages and timers, for random transactions',
    (inputs) => {
      const core = coordinator()
      core.recover([])
      core.step({
        type: 'begin',
        txId: 't1',
        participants: new Map([
          [P1, 1],
          [P2, 2],
        ]),
      })
      core.step({ type: 'begin', txId: 't2', participants: new Map([[P3, 3]]) })
      for (const input of inputs) {
        if (input.kind === 'message') core.step({ type: 'message', message: input.message })
        else if (input.kind === 'timer') core.step({ type: 'timer', txId: input.txId, timer: input.timer })
      }
    },
  )

  test.prop([fc.boolean(), fc.array(inputArbitrary, { maxLength: 60 })], { numRuns: 300 })(
    'a participant never throws on any sequence of messages, timers and resource results',
    (restarted, inputs) => {
      const core = participant(P1, { cooperativeTerminationAfterMs: 1 })
      // On the log it created (incarnation 1), or restarted on it (incarnation 2): the two ways
      // `answersUnknown` can be set.
      core.recover(
        restarted
          ? [{ type: 'incarnation', txId: incarnationTxId(1), n: 1, node: P1, role: 'participant' }]
          : [],
      )
      for (const input of inputs) {
        if (input.kind === 'message') core.step({ type: 'message', message: input.message })
        else if (input.kind === 'timer') core.step({ type: 'timer', txId: input.txId, timer: input.timer })
        else if (input.kind === 'prepare-result')
          core.step({ type: 'prepare-result', txId: input.txId, vote: input.vote })
        else core.step({ type: 'applied', txId: input.txId })
      }
    },
  )
})
