import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import { TwopcError } from '../../src/core/errors.js'
import { type Message, parseMessage } from '../../src/core/messages.js'
import { CREATED_RECORD_TX_ID, type LogRecord, parseRecord } from '../../src/core/records.js'
import { MAX_ID_LENGTH, type NodeId } from '../../src/core/types.js'
import { isId, isTxId } from '../../src/core/validate.js'
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
  fc.record({ ...header, type: fc.constant('ack' as const), inc: incArbitrary, heuristic: decisionArbitrary }),
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
) as fc.Arbitrary<LogRecord>

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
      if (error !== undefined && field !== 'type') expect(error.message).toContain(`\`${field}\``)
      if (error === undefined) expect(parseMessage(parseMessage(candidate))).toEqual(parseMessage(candidate))
    },
  )

  test('the error names the field, the value found and what was expected', () => {
    const error = expectOnlyCode(
      () => parseMessage({ v: 1, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'maybe' }),
      'INVALID_MESSAGE',
    )
    expect(error?.message).toBe(
      "Invalid message: expected `vote` to be one of 'yes', 'no', 'read-only', got \"maybe\"",
    )
  })

  test.each([
    ['v', { v: 2, type: 'ack', txId: 't', from: 'a', to: 'b' }],
    ['type', { v: 1, type: 'ACK', txId: 't', from: 'a', to: 'b' }],
    ['txId', { v: 1, type: 'ack', txId: '', from: 'a', to: 'b' }],
    ['txId', { v: 1, type: 'ack', txId: 'x'.repeat(MAX_ID_LENGTH + 1), from: 'a', to: 'b' }],
    ['from', { v: 1, type: 'ack', txId: 't', from: 'a\u0000', to: 'b' }],
    ['to', { v: 1, type: 'ack', txId: 't', from: 'a' }],
    [
      'participants',
      {
        v: 1,
        type: 'prepare',
        txId: 't',
        from: 'a',
        to: 'b',
        payload: 1,
        participants: ['b', 'b'],
        onePhase: false,
      },
    ],
    [
      'participants',
      { v: 1, type: 'prepare', txId: 't', from: 'a', to: 'b', payload: 1, participants: [], onePhase: false },
    ],
    [
      'payload',
      { v: 1, type: 'prepare', txId: 't', from: 'a', to: 'b', participants: ['b'], onePhase: false },
    ],
    [
      'onePhase',
      {
        v: 1,
        type: 'prepare',
        txId: 't',
        from: 'a',
        to: 'b',
        payload: null,
        participants: ['b'],
        onePhase: 'no',
      },
    ],
    ['heuristic', { v: 1, type: 'ack', txId: 't', from: 'a', to: 'b', heuristic: 'maybe' }],
  ])('a bad `%s` is rejected by name', (field, value) => {
    expect(expectOnlyCode(() => parseMessage(value), 'INVALID_MESSAGE')?.message).toContain(`\`${field}\``)
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
        () => parseMessage({ v: 1, type: 'ack', txId, from: 'a', to: 'b' }),
        'INVALID_MESSAGE',
      )
      expect(error?.message).toContain('`txId`')
      // Node ids may start with ~: the reservation is for transaction ids only.
      expect(parseMessage({ v: 1, type: 'ack', txId: 't', from: txId, to: txId })).toEqual({
        v: 1,
        type: 'ack',
        txId: 't',
        from: txId,
        to: txId,
      })
      // A ~ further in is fine.
      expect(parseMessage({ v: 1, type: 'ack', txId: `t${txId}`, from: 'a', to: 'b' }).txId).toBe(`t${txId}`)
    },
  )

  describe('the onePhase flag of votes and aborts', () => {
    const vote = { v: 1, type: 'vote', txId: 't', from: 'a', to: 'b', vote: 'yes' } as const
    const abort = { v: 1, type: 'abort', txId: 't', from: 'a', to: 'b' } as const

    test.each([vote, abort])('true is kept on a $type', (message) => {
      expect(parseMessage({ ...message, onePhase: true })).toEqual({ ...message, onePhase: true })
    })

    test.each([vote, abort])('false or absent parses to a $type without the field', (message) => {
      for (const candidate of [
        message,
        { ...message, onePhase: false },
        { ...message, onePhase: undefined },
      ]) {
        const parsed = parseMessage(candidate)
        expect(parsed).toEqual(message)
        expect(Object.keys(parsed)).not.toContain('onePhase')
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
        const message = { v: 1, type, txId: 't', from: 'a', to: 'b' } as const
        expect(parseMessage({ ...message, onePhase: true })).toEqual(message)
        expect(parseMessage({ ...message, onePhase: 'anything' })).toEqual(message)
      },
    )
  })

  test('a null payload is present', () => {
    const message = {
      v: 1,
      type: 'prepare',
      txId: 't',
      from: 'a',
      to: 'b',
      payload: null,
      participants: ['b'],
      onePhase: true,
    }
    expect(parseMessage(message)).toEqual(message)
  })

  test('the parsed participant list is a copy', () => {
    const participants = ['b', 'c']
    const parsed = parseMessage({
      v: 1,
      type: 'prepare',
      txId: 't',
      from: 'a',
      to: 'b',
      payload: 1,
      participants,
      onePhase: false,
    })
    participants.push('d')
    expect(parsed.type === 'prepare' && parsed.participants).toEqual(['b', 'c'])
  })
})

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
      if (error !== undefined && field !== 'type') expect(error.message).toContain(`\`${field}\``)
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

  test.prop([recordArbitrary.filter((record) => record.type !== 'created'), reservedTxIdArbitrary])(
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
})

describe('feeding parsed messages to the cores', () => {
  const nodes: NodeId[] = [C, P1, P2, P3]
  /** Messages between the nodes of the unit tests, about a handful of transactions, so that some are routed. */
  const routedArbitrary: fc.Arbitrary<Message> = messageArbitrary.chain((message) =>
    fc
      .record({
        txId: fc.constantFrom('t1', 't2', 't3'),
        from: fc.constantFrom(...nodes),
        to: fc.constantFrom(...nodes),
        participants: fc.shuffledSubarray([P1, P2, P3], { minLength: 1 }),
      })
      .map(({ txId, from, to, participants }) =>
        parseMessage(
          message.type === 'prepare'
            ? {
                ...message,
                txId,
                from,
                to,
                participants,
                onePhase: message.onePhase && participants.length === 1,
              }
            : { ...message, txId, from, to },
        ),
      ),
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
      // On the log it created, or restarted on it: the two ways `answersUnknown` can be set.
      core.recover(restarted ? [{ type: 'created', txId: CREATED_RECORD_TX_ID }] : [])
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
