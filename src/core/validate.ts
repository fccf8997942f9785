import { TwopcError, unreachable } from './errors.js'
import type { Message } from './messages.js'
import {
  freezeJson,
  isDeepFrozen,
  isPlainContainer,
  MAX_STORED_PAYLOAD_DEPTH,
  privateMark,
} from './payload.js'
import type { LogRecord } from './records.js'
import { MAX_ID_LENGTH, MAX_PARTICIPANTS, type NodeId, type Vote } from './types.js'

/** A plain object (not null, not an array), read field by field by the parsers. */
export type Fields = Record<string, unknown>

/**
 * What an id must not hold: a control character, or a lone surrogate (half of a UTF-16 pair; in
 * `u` mode a whole pair is one code point, so `\p{Cs}` matches only the lone halves). UTF-8 has no
 * lone surrogates: encoding turns each into U+FFFD, so two ids differing only there would become
 * the same bytes (the same PostgreSQL gid, the same bookkeeping row).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const NOT_IN_IDS = /[\u0000-\u001f\u007f]|\p{Cs}/u

/** Describes a value for an error message without dumping it whole. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * True for a valid node or transaction id: a non-empty string of at most {@link MAX_ID_LENGTH}
 * printable characters (UTF-16 code units; no control characters, no lone surrogates).
 */
export function isId(value: unknown): value is string {
  return (
    typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !NOT_IN_IDS.test(value)
  )
}

/**
 * True for a valid transaction id: a valid id that does not start with `~` (reserved for the
 * records twopc writes about itself).
 */
export function isTxId(value: unknown): value is string {
  return isId(value) && !value.startsWith('~')
}

/** Every vote a participant can cast, in protocol order. */
export const VOTES: readonly Vote[] = ['yes', 'no', 'read-only']

/**
 * Throws for a step input of a type the core does not know (a caller's bug when driving a core
 * from one's own loop), instead of blaming the library.
 * @throws TwopcError `INVALID_REQUEST`
 */
export function unknownInput(input: unknown, types: readonly string[]): never {
  const type = (input as { type?: unknown } | null)?.type
  throw new TwopcError(
    'INVALID_REQUEST',
    `Expected an input of type ${types.join(', ')}, got ${describe(type)}`,
  )
}

/**
 * Throws unless `records` is an array (what `recover` takes: the log's records, as `parseRecord`
 * returns them).
 * @throws TwopcError `INVALID_REQUEST`
 */
export function requireRecordList(records: unknown): void {
  if (!Array.isArray(records))
    throw new TwopcError(
      'INVALID_REQUEST',
      `Expected recover() to receive an array of log records, got ${describe(records)}`,
    )
}

/**
 * `value` as the transaction id of a request (`commit()`, `begin`).
 * @throws TwopcError `INVALID_REQUEST` saying what a transaction id must be
 */
export function requireTxId(value: unknown): string {
  if (isTxId(value)) return value
  throw new TwopcError(
    'INVALID_REQUEST',
    `Expected \`txId\` to be a non-empty printable string of at most ${MAX_ID_LENGTH} characters, not starting with ~, got ${describe(value)}`,
  )
}

/**
 * Reads and checks fields of an untrusted object, throwing one `TwopcError` with the given code
 * that names the field, the value found and what was expected.
 */
export class FieldReader {
  constructor(
    private readonly fields: Fields,
    private readonly what: string,
    private readonly code: 'INVALID_MESSAGE' | 'INVALID_RECORD',
  ) {}

  /** Fails with a message naming `field`, the value found and `expected`. */
  fail(field: string, expected: string): never {
    throw new TwopcError(
      this.code,
      `Invalid ${this.what}: expected \`${field}\` to be ${expected}, got ${describe(this.fields[field])}`,
    )
  }

  /** A node or transaction id. */
  id(field: string): string {
    const value = this.fields[field]
    if (!isId(value)) this.fail(field, `a non-empty string of at most ${MAX_ID_LENGTH} printable characters`)
    return value
  }

  /** A transaction id. */
  txId(field: string): string {
    const value = this.fields[field]
    if (!isTxId(value)) {
      this.fail(
        field,
        `a non-empty string of at most ${MAX_ID_LENGTH} printable characters, not starting with ~`,
      )
    }
    return value
  }

  /** One of a fixed set of strings. */
  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.fields[field]
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(field, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`)
    }
    return value as T
  }

  /** An optional flag: absent or `false` reads as false, `true` as true. */
  flag(field: string): boolean {
    const value = this.fields[field]
    if (value === undefined || value === false) return false
    if (value !== true) this.fail(field, 'true, false or absent')
    return true
  }

  /** An integer from `min` to `Number.MAX_SAFE_INTEGER` (incarnations and sequence numbers). */
  counter(field: string, min: number): number {
    const value = this.fields[field]
    if (!Number.isSafeInteger(value) || (value as number) < min)
      this.fail(field, `an integer of at least ${min}`)
    return value as number
  }

  /** A boolean. */
  boolean(field: string): boolean {
    const value = this.fields[field]
    if (typeof value !== 'boolean') this.fail(field, 'a boolean')
    return value
  }

  /** A non-empty list of distinct node ids. */
  idList(field: string): readonly NodeId[] {
    const value = this.fields[field]
    if (
      !Array.isArray(value) ||
      value.length === 0 ||
      value.length > MAX_PARTICIPANTS ||
      !value.every(isId) ||
      !distinct(value)
    ) {
      this.fail(field, `a non-empty array of at most ${MAX_PARTICIPANTS} distinct node ids`)
    }
    // Always a plain copy: a frozen Array subclass, or one with getters or an own `includes`,
    // must not get through as is (and a copy of a few ids costs less than marking the original).
    return [...value]
  }

  /**
   * A payload: present, plain JSON (`null` included; see {@link jsonShape}) and nested at most
   * {@link MAX_STORED_PAYLOAD_DEPTH} levels deep (the readers' side of the payload rule in
   * `payload.ts`). `JSON.parse` accepts deeper values, but serializing them again (to the log, to
   * the wire) would overflow the stack and halt the node.
   */
  payload(field: string): unknown {
    const value = this.fields[field]
    if (!(field in this.fields) || value === undefined) this.fail(field, 'present')
    const shape = jsonShape(value, MAX_STORED_PAYLOAD_DEPTH)
    if (shape === 'not-json') this.fail(field, 'plain JSON')
    if (shape === 'too-deep') this.fail(field, `nested at most ${MAX_STORED_PAYLOAD_DEPTH} levels deep`)
    return value
  }
}

/** True if no two of `values` are equal; short lists (most participant lists) are compared without a `Set`. */
function distinct(values: readonly unknown[]): boolean {
  if (values.length > 16) return new Set(values).size === values.length
  for (let i = 1; i < values.length; i++) {
    for (let j = 0; j < i; j++) if (values[i] === values[j]) return false
  }
  return true
}

/**
 * What an untrusted value is, against the payload rule's readers: plain JSON (`null`, booleans,
 * finite numbers, strings, arrays and plain objects) nested at most `limit` levels (`json`), nested
 * deeper (`too-deep`), or something `JSON.stringify` would drop or change (`not-json`: a function,
 * a symbol, `undefined`, a BigInt, `NaN`, a `Date`, a class instance). Iterative, so it cannot
 * overflow. (A custom transport hands over objects, not bytes: a payload holding a function was
 * logged without it, and the log could not be loaded again — found by review.)
 */
export function jsonShape(value: unknown, limit: number): 'json' | 'too-deep' | 'not-json' {
  if (typeof value !== 'object' || value === null) return isJsonScalar(value) ? 'json' : 'not-json'
  if (!isPlainContainer(value)) return 'not-json'
  // Two stacks of plain values rather than one of pairs: no allocation per container.
  const containers: object[] = [value]
  const depths: number[] = [1]
  for (let current = containers.pop(); current !== undefined; current = containers.pop()) {
    const depth = depths.pop() as number
    if (depth > limit) return 'too-deep'
    for (const child of Object.values(current)) {
      if (typeof child !== 'object' || child === null) {
        if (!isJsonScalar(child)) return 'not-json'
      } else if (!isPlainContainer(child)) return 'not-json'
      else {
        containers.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return 'json'
}

function isJsonScalar(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    default:
      return value === null
  }
}

/** Returns `value` as an object to read fields from, or throws with `code` if it is not a plain object. */
export function asFields(value: unknown, what: string, code: 'INVALID_MESSAGE' | 'INVALID_RECORD'): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TwopcError(code, `Invalid ${what}: expected an object, got ${describe(value)}`)
  }
  return value as Fields
}

/** Marks the messages {@link sealMessage} sealed; only this module can add or see the mark. */
const sealedMessage = privateMark()

/**
 * Deep-freezes `message` in place and marks it valid, so that `parseMessage` returns it at once —
 * whoever hands it over later, and however often: frozen, nothing that was checked can have changed
 * since. Called by the library's transports at their edge, right after `parseMessage` built
 * `message` (that is what makes the mark mean "validated"); this module is exported from no entry
 * point, so no one else can. The payload must be owned by the caller (a fresh `JSON.parse` result,
 * a copy) or deep-frozen already (`isDeepFrozen`): it is frozen in place too.
 */
export function sealMessage(message: Message): Message {
  if (sealedMessage.has(message)) return message
  sealedMessage.add(message) // before it is frozen
  // Frozen field by field rather than by a generic walk, which took most of the time of sealing.
  switch (message.type) {
    case 'prepare':
      Object.freeze(message.participants)
      freezeJson(message.payload)
      break
    case 'abort':
      if (message.ticket !== undefined) Object.freeze(message.ticket)
      break
    case 'vote':
    case 'commit':
    case 'ack':
    case 'decision-request':
      break // every field is a primitive
    default:
      unreachable(message)
  }
  return Object.freeze(message)
}

/** True if `value` is a message {@link sealMessage} sealed: valid, and deep-frozen since. */
export function isSealedMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && sealedMessage.has(value)
}

/** Marks the records {@link sealBuilt} sealed; only this module can add or see the mark. */
const sealedRecord = privateMark()

/**
 * What a core builds, sealed for the edges: each message and record of a `Ready` is valid by
 * construction (the simulator and the model checker check it on every history), so the
 * runtime freezes it and marks it valid, and `parseMessage` / `parseRecord` return it at once —
 * `MemoryNetwork`, `MemoryLog` and `FileLog` then neither validate nor copy it again. Only what holds
 * nothing anyone else could have changed is sealed: a payload must be deep-frozen already (as
 * `commit()` and the library's transports leave it) and a participant list frozen already (as the
 * cores and the library's transports leave it). Anything else — a payload or a list a custom
 * transport decoded, which a resource was handed and may have changed — is left as it is, to be
 * validated and copied by whoever receives it (found by review: a resource that pushed a duplicate
 * id into `tx.participants` got a `prepared` record the log could not load again sealed unchecked).
 */
export function sealBuilt<T extends Message | LogRecord>(value: T, isMessage: boolean): T {
  if ('payload' in value && !isDeepFrozen(value.payload)) return value
  if ('participants' in value && !Object.isFrozen(value.participants)) return value
  if (isMessage) return sealMessage(value as Message) as T
  if (sealedRecord.has(value)) return value
  sealedRecord.add(value) // before it is frozen
  return Object.freeze(value)
}

/**
 * Set on a transport that hands messages over as objects (`MemoryNetwork`): the runtime seals the
 * messages it sends there, which the receiver then neither validates nor copies. Other transports
 * serialize what they send, so sealing would only cost them (a mark and a freeze per message, and a
 * slower `JSON.stringify`): they get the core's messages as they are. Not exported by any entry point.
 */
export const SEALED_DELIVERY: unique symbol = Symbol('twopc.sealedDelivery')

/** True if `value` is a record {@link sealBuilt} sealed: valid, and deep-frozen since. */
export function isSealedRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && sealedRecord.has(value)
}
