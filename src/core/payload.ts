/**
 * The payload rule: what `Coordinator.commit()` accepts as a participant's share of the work, so
 * that every transport and every log carries it unchanged. Stated once, here:
 *
 * - **plain JSON only**: `null`, booleans, finite numbers, strings, dense arrays and plain objects
 *   (prototype `Object.prototype` or `null`) with enumerable string-keyed data properties. Anything
 *   `JSON.stringify` would convert or drop silently (`undefined`, `NaN`, `Infinity`, a `Date`, a
 *   `Map`, a class instance, a function, a symbol, a hole in an array) and anything it throws on
 *   (a BigInt, a circular reference) is refused, so the participant receives exactly what the
 *   caller passed;
 * - **nested at most {@link MAX_PAYLOAD_DEPTH} levels** (a scalar is 0 levels, `[]` and `{}` are 1);
 * - **a `prepare` message of at most {@link MAX_MESSAGE_BYTES} bytes of JSON** around it, the
 *   payload being counted as `JSON.stringify` writes it in UTF-8 (so the room left for a payload is
 *   that limit minus the message around it: see {@link PREPARE_FIXED_BYTES}).
 *
 * Both limits sit strictly inside what every shipped transport carries with its default settings:
 * `TcpTransport` (frames of 1 MiB: 1,046,527 bytes of message), `HttpTransport` (bodies of 1 MiB:
 * 1,048,574 bytes of message), `MemoryNetwork` (no size limit), the transports' inbound gate (100
 * levels of JSON for the whole frame or batch, i.e. 98 for an HTTP payload) and {@link
 * MAX_STORED_PAYLOAD_DEPTH} for `parseMessage` and `parseRecord`. A transport configured below its
 * defaults enforces its own limit when sending (the `send-failed` event reports it).
 */
import { TwopcError } from './errors.js'
import type { Json, NodeId } from './types.js'

/** Deepest nesting of arrays and objects `commit()` accepts in a payload. */
export const MAX_PAYLOAD_DEPTH = 64

/**
 * Deepest payload a reader accepts (`parseMessage`, `parseRecord`): above {@link MAX_PAYLOAD_DEPTH}
 * so that messages and logs written before the rule keep loading; deeper than this, serializing the
 * value again could overflow the stack.
 */
export const MAX_STORED_PAYLOAD_DEPTH = 100

/** Largest `prepare` message, in bytes of JSON, that `commit()` lets a payload make: 1 MiB − 4 KiB. */
export const MAX_MESSAGE_BYTES = 1024 * 1024 - 4096

/**
 * Room a `prepare` takes besides its payload and its ids: the field names, the version, the flag
 * and three counters of up to 16 digits (about 150 bytes), rounded up.
 */
export const PREPARE_FIXED_BYTES = 256

/**
 * Checks that every payload of `participants` follows the payload rule, for the `prepare` messages
 * of transaction `txId` from `coordinator`, and returns a deep-frozen copy of each, by participant
 * in the order of `participants`. Called by `Coordinator.commit()` before the transaction begins:
 * the copy is what is prepared, so the caller changing its own objects afterwards changes nothing,
 * and `MemoryNetwork` hands the frozen copy to the participant without copying it again. The walk
 * stops at the first fault and after {@link MAX_MESSAGE_BYTES} bytes, so shared sub-values cannot
 * make it run long. A copy is plain JSON: a `-0` becomes `0` and every object gets
 * `Object.prototype`, as a JSON round trip would do.
 *
 * @throws TwopcError `INVALID_REQUEST` naming the participant, the JSON path (`$.items[3].price`),
 * what was found there and what is expected.
 */
export function frozenPayloads(
  participants: Readonly<Record<NodeId, unknown>>,
  transaction: { readonly txId: string; readonly coordinator: NodeId },
): Map<NodeId, Json> {
  const ids = Object.keys(participants)
  // Every prepare carries the transaction id, both ends' ids and the participant list.
  // (`String`: a `txId` that is not a string is refused as INVALID_REQUEST later, by `begin`.)
  const sharedBytes =
    jsonListBytes([String(transaction.txId), transaction.coordinator]) + 1 + jsonListBytes(ids)
  const payloads = new Map<NodeId, Json>()
  for (const participant of ids) {
    const budget = MAX_MESSAGE_BYTES - PREPARE_FIXED_BYTES - sharedBytes - jsonStringBytes(participant) - 1
    const copy = new PayloadWalk(participant, budget).value(participants[participant], 0)
    payloads.set(participant, freezeJson(copy))
  }
  return payloads
}

/** A mark this library puts on objects it vouches for (see {@link privateMark}). */
export interface PrivateMark {
  /** Marks `target`; before it is frozen (TC39's "nonextensible applies to private" refuses it after). */
  add(target: object): void
  /** True if `value` carries this mark. */
  has(value: object): boolean
}

/** A constructor that returns the object it is given, so that a subclass adds its fields to it. */
class ReturnsTarget {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: returning the target is how the mark is added
    return target
  }
}

/**
 * A new, distinct mark for objects this library vouches for (deep-frozen JSON here; sealed messages
 * and records in `validate.ts`): a private field of a class made for it, added to the object by
 * constructing the class on it. Only this mark's own code can add or test the field — no reflection
 * shows it, no copy carries it — so it cannot be forged; and adding it costs a fraction of a
 * `WeakSet` entry (about 50 ns against 300–800 ns on Node 20, where the `WeakSet` cost more than
 * the validation it was to save).
 */
export function privateMark(): PrivateMark {
  class Mark extends ReturnsTarget {
    readonly #marked = true

    static has(value: object): boolean {
      return #marked in value
    }
  }
  return {
    add: (target) => {
      new Mark(target)
    },
    has: (value) => Mark.has(value),
  }
}

/** Marks the roots of JSON values this module deep-froze: nothing reachable from one can change. */
const deepFrozen = privateMark()

/**
 * True if nothing in `value` can change: a primitive, or a value deep-frozen by {@link
 * frozenPayloads} or {@link freezeJson}. An object frozen by anyone else reads false, since its
 * members may not be.
 */
export function isDeepFrozen(value: unknown): boolean {
  if (typeof value === 'object') return value === null || deepFrozen.has(value)
  return typeof value !== 'function'
}

/**
 * Freezes `value` and every array and object in it, in place, and returns it. `value` must be a
 * tree of plain arrays and objects (no cycles) that the caller owns, such as a fresh result of
 * `JSON.parse`: whoever else holds a part of it could no longer change it. Parts already
 * deep-frozen ({@link isDeepFrozen}) are not walked again.
 */
export function freezeJson<T>(value: T): T {
  if (isDeepFrozen(value)) return value
  deepFrozen.add(value as object)
  const stack: object[] = [value as object]
  for (let current = stack.pop(); current !== undefined; current = stack.pop()) {
    Object.freeze(current)
    for (const child of Object.values(current)) if (!isDeepFrozen(child)) stack.push(child as object)
  }
  return value
}

/**
 * `value` if nothing can change it ({@link isDeepFrozen}), else a deep-frozen copy through JSON: what
 * the in-memory adapters keep or hand over, so that nobody else can change it afterwards.
 */
export function ownedFrozen(value: Json): Json {
  return isDeepFrozen(value) ? value : freezeJson(JSON.parse(JSON.stringify(value)) as Json)
}

const PLAIN_JSON =
  'plain JSON (null, a boolean, a finite number, a string, an array without holes, or a plain object)'

class PayloadWalk {
  private bytes = 0
  private readonly path: (string | number)[] = []
  private readonly ancestors: object[] = []

  constructor(
    private readonly participant: NodeId,
    private readonly budget: number,
  ) {}

  /** Checks `value`, found `depth` levels down, and returns a copy of it. */
  value(value: unknown, depth: number): Json {
    switch (typeof value) {
      case 'string':
        this.count(jsonStringBytes(value))
        return value
      case 'boolean':
        this.count(value ? 4 : 5)
        return value
      case 'number':
        if (!Number.isFinite(value)) this.fail(`expected ${PLAIN_JSON}, got ${value}`)
        this.count(String(value).length)
        return value === 0 ? 0 : value // JSON writes -0 as 0
      case 'object':
        if (value === null) {
          this.count(4)
          return null
        }
        return this.container(value, depth + 1)
      default:
        return this.fail(`expected ${PLAIN_JSON}, got ${describeNonJson(value)}`)
    }
  }

  private container(value: object, depth: number): Json {
    const cycle = this.ancestors.indexOf(value)
    if (cycle >= 0)
      this.fail(
        `expected ${PLAIN_JSON}, got a circular reference to ${formatPath(this.path.slice(0, cycle))}`,
      )
    if (depth > MAX_PAYLOAD_DEPTH)
      this.fail(`expected a payload nested at most ${MAX_PAYLOAD_DEPTH} levels deep`)
    if (!isPlainContainer(value)) this.fail(`expected ${PLAIN_JSON}, got ${describeNonJson(value)}`)
    const isArray = Array.isArray(value)
    if (Object.getOwnPropertySymbols(value).length > 0)
      this.fail(`expected ${PLAIN_JSON}, got an object with a symbol key`)
    this.ancestors.push(value)
    const copy = isArray ? this.array(value as unknown[], depth) : this.object(value, depth)
    this.ancestors.pop()
    return copy
  }

  private array(value: unknown[], depth: number): Json[] {
    this.count(2 + Math.max(0, value.length - 1))
    const copy: Json[] = []
    for (let index = 0; index < value.length; index++) {
      this.path.push(index)
      if (!Object.hasOwn(value, index)) this.fail(`expected ${PLAIN_JSON}, got a hole (a sparse array)`)
      copy.push(this.property(value, index, depth))
      this.path.pop()
    }
    // Own properties are `length` and one per element: anything else is a named property JSON drops.
    const names = Object.getOwnPropertyNames(value)
    if (names.length !== value.length + 1) {
      this.path.push(names.find((key) => key !== 'length' && !isIndex(key, value.length)) as string)
      this.fail(`expected ${PLAIN_JSON}, got a named property on an array`)
    }
    return copy
  }

  private object(value: object, depth: number): { [key: string]: Json } {
    const keys = Object.getOwnPropertyNames(value)
    this.count(2 + Math.max(0, keys.length - 1))
    const copy: { [key: string]: Json } = {}
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      this.path.push(key)
      this.count(jsonStringBytes(key) + 1)
      const member = this.property(value, key, depth)
      // A key `__proto__` must stay a key, as in JSON.parse: assigning it would set the prototype.
      if (key === '__proto__') Object.defineProperty(copy, key, dataProperty(member))
      else copy[key] = member
      this.path.pop()
    }
    return copy
  }

  private property(container: object, key: string | number, depth: number): Json {
    const descriptor = Object.getOwnPropertyDescriptor(container, key) as PropertyDescriptor
    if (!('value' in descriptor)) this.fail(`expected ${PLAIN_JSON}, got a getter or setter`)
    if (!descriptor.enumerable) this.fail(`expected ${PLAIN_JSON}, got a non-enumerable property`)
    return this.value(descriptor.value, depth)
  }

  private count(bytes: number): void {
    this.bytes += bytes
    if (this.bytes > this.budget) {
      throw new TwopcError(
        'INVALID_REQUEST',
        `Invalid payload for participant ${JSON.stringify(this.participant)}: expected at most ${this.budget} bytes of JSON (the ${MAX_MESSAGE_BYTES}-byte limit of a \`prepare\` message, which every transport carries with its default settings, minus the message around the payload), got more; pass large data by reference`,
      )
    }
  }

  private fail(what: string): never {
    throw new TwopcError(
      'INVALID_REQUEST',
      `Invalid payload for participant ${JSON.stringify(this.participant)} at ${formatPath(this.path)}: ${what}`,
    )
  }
}

/** `$`, then `.name` or `["odd name"]` for object keys and `[3]` for array indexes. */
function formatPath(path: readonly (string | number)[]): string {
  let text = '$'
  for (const step of path) {
    if (typeof step === 'number') text += `[${step}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(step)) text += `.${step}`
    else text += `[${JSON.stringify(step)}]`
  }
  return text
}

function describeNonJson(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'bigint':
      return 'a BigInt'
    case 'function':
      return 'a function'
    case 'symbol':
      return 'a symbol'
    default: {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name
      return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype'
    }
  }
}

/** True for an array or a plain object (prototype `Object.prototype` or `null`): the containers JSON has. */
export function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function isIndex(key: string, length: number): boolean {
  const index = Number(key)
  return Number.isInteger(index) && index >= 0 && index < length && String(index) === key
}

/** A descriptor of an enumerable, writable, configurable data property, as `JSON.parse` defines them. */
function dataProperty(value: Json): PropertyDescriptor {
  return { value, enumerable: true, writable: true, configurable: true }
}

/**
 * UTF-8 length of `JSON.stringify(text)`, counted without writing it: the quotes, two bytes for
 * `\"`, `\\` and the short escapes, six for other control characters and lone surrogates (written
 * `\uXXXX`), four for a surrogate pair, and the UTF-8 length of everything else.
 */
export function jsonStringBytes(text: string): number {
  let bytes = 2
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20) bytes += SHORT_ESCAPES.has(code) ? 2 : 6
    else if (code === 0x22 || code === 0x5c) bytes += 2
    else if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code < 0xd800 || code > 0xdfff) bytes += 3
    else if (code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4
      i += 1
    } else bytes += 6
  }
  return bytes
}

/** Control characters `JSON.stringify` writes as a two-character escape: \b \t \n \f \r. */
const SHORT_ESCAPES: ReadonlySet<number> = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d])

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

/** UTF-8 length of `JSON.stringify(texts)`: brackets, commas and each string. */
function jsonListBytes(texts: readonly string[]): number {
  let bytes = 2 + Math.max(0, texts.length - 1)
  for (const text of texts) bytes += jsonStringBytes(text)
  return bytes
}
