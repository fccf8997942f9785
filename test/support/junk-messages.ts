import { fc } from '@fast-check/vitest'
import { MESSAGE_TYPES, PROTOCOL_VERSION, parseMessage } from '../../src/core/messages.js'

/** Whether `value` parses as a valid protocol message from `from` to `to`. */
export function isValidMessage(value: unknown, from: string, to: string): boolean {
  try {
    const message = parseMessage(value)
    return message.from === from && message.to === to
  } catch {
    return false
  }
}

/**
 * Junk shaped like a message from `from` to `to`: each field is either plausible (a real message
 * type, a near miss such as 'PREPARE', the right sender and receiver) or any JSON, and any field may
 * be missing. The rare draws that happen to be a valid message from `from` to `to` are filtered
 * out: the receiver would accept them (correctly), and their effects would blur the fuzz tests'
 * before/after comparisons.
 */
export function messageShapedJunk(from: string, to: string): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record(
      {
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.constant(1), fc.jsonValue()),
        type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES, 'rollback', 'PREPARE'), fc.jsonValue()),
        txId: fc.oneof(fc.string(), fc.jsonValue()),
        from: fc.oneof(fc.constant(from), fc.jsonValue()),
        to: fc.oneof(fc.constant(to), fc.string(), fc.jsonValue()),
        payload: fc.jsonValue(),
        participants: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
        onePhase: fc.jsonValue(),
        vote: fc.oneof(fc.constantFrom('yes', 'no'), fc.jsonValue()),
        inc: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.jsonValue()),
        epoch: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.jsonValue()),
        seq: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.jsonValue()),
        refused: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.jsonValue()),
        ticket: fc.oneof(fc.record({ inc: fc.nat(3), epoch: fc.nat(3), seq: fc.nat(3) }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    )
    .filter((value) => !isValidMessage(value, from, to))
}
