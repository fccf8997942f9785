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
import type { NodeId } from './types.js'

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
 * Throws unless every payload of `participants` follows the payload rule, for the `prepare`
 * messages of transaction `txId` from `coordinator`. Called by `Coordinator.commit()` before the
 * transaction begins; the walk stops at the first fault and after {@link MAX_MESSAGE_BYTES} bytes,
 * so shared sub-values cannot make it run long.
 *
 * @throws TwopcError `INVALID_REQUEST` naming the participant, the JSON path (`$.items[3].price`),
 * what was found there and what is expected.
 */
export function assertPayloads(
  participants: Readonly<Record<NodeId, unknown>>,
  transaction: { readonly txId: string; readonly coordinator: NodeId },
): void {
  const ids = Object.keys(participants)
  // Every prepare carries the transaction id, both ends' ids and the participant list.
  const sharedBytes = jsonBytes(JSON.stringify([transaction.txId, transaction.coordinator, ids]))
  for (const participant of ids) {
    const budget =
      MAX_MESSAGE_BYTES - PREPARE_FIXED_BYTES - sharedBytes - jsonBytes(JSON.stringify(participant)) - 1
    new PayloadWalk(participant, budget).value(participants[participant], 0)
  }
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

  value(value: unknown, depth: number): void {
    switch (typeof value) {
      case 'string':
        return this.count(jsonBytes(JSON.stringify(value)))
      case 'boolean':
        return this.count(value ? 4 : 5)
      case 'number':
        if (!Number.isFinite(value)) this.fail(`expected ${PLAIN_JSON}, got ${value}`)
        return this.count(String(value).length)
      case 'object':
        if (value === null) return this.count(4)
        return this.container(value, depth + 1)
      default:
        return this.fail(`expected ${PLAIN_JSON}, got ${describeNonJson(value)}`)
    }
  }

  private container(value: object, depth: number): void {
    const cycle = this.ancestors.indexOf(value)
    if (cycle >= 0)
      this.fail(
        `expected ${PLAIN_JSON}, got a circular reference to ${formatPath(this.path.slice(0, cycle))}`,
      )
    if (depth > MAX_PAYLOAD_DEPTH)
      this.fail(`expected a payload nested at most ${MAX_PAYLOAD_DEPTH} levels deep`)
    const isArray = Array.isArray(value)
    const prototype = Object.getPrototypeOf(value)
    if (!isArray && prototype !== Object.prototype && prototype !== null)
      this.fail(`expected ${PLAIN_JSON}, got ${describeNonJson(value)}`)
    if (Object.getOwnPropertySymbols(value).length > 0)
      this.fail(`expected ${PLAIN_JSON}, got an object with a symbol key`)
    this.ancestors.push(value)
    if (isArray) this.array(value as unknown[], depth)
    else this.object(value, depth)
    this.ancestors.pop()
  }

  private array(value: unknown[], depth: number): void {
    this.count(2 + Math.max(0, value.length - 1))
    for (let index = 0; index < value.length; index++) {
      this.path.push(index)
      if (!Object.hasOwn(value, index)) this.fail(`expected ${PLAIN_JSON}, got a hole (a sparse array)`)
      this.property(value, index, depth)
      this.path.pop()
    }
    // Own properties are `length` and one per element: anything else is a named property JSON drops.
    const names = Object.getOwnPropertyNames(value)
    if (names.length !== value.length + 1) {
      this.path.push(names.find((key) => key !== 'length' && !isIndex(key, value.length)) as string)
      this.fail(`expected ${PLAIN_JSON}, got a named property on an array`)
    }
  }

  private object(value: object, depth: number): void {
    const keys = Object.getOwnPropertyNames(value)
    this.count(2 + Math.max(0, keys.length - 1))
    for (const key of keys) {
      this.path.push(key)
      this.count(jsonBytes(JSON.stringify(key)) + 1)
      this.property(value, key, depth)
      this.path.pop()
    }
  }

  private property(container: object, key: string | number, depth: number): void {
    const descriptor = Object.getOwnPropertyDescriptor(container, key) as PropertyDescriptor
    if (!('value' in descriptor)) this.fail(`expected ${PLAIN_JSON}, got a getter or setter`)
    if (!descriptor.enumerable) this.fail(`expected ${PLAIN_JSON}, got a non-enumerable property`)
    this.value(descriptor.value, depth)
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

function isIndex(key: string, length: number): boolean {
  const index = Number(key)
  return Number.isInteger(index) && index >= 0 && index < length && String(index) === key
}

/**
 * UTF-8 length of a string `JSON.stringify` produced: it escapes lone surrogates, so every
 * surrogate left is half of a 4-byte pair.
 */
function jsonBytes(json: string): number {
  let bytes = 0
  for (let i = 0; i < json.length; i++) {
    const code = json.charCodeAt(i)
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code <= 0xdfff ? 2 : 3
  }
  return bytes
}
