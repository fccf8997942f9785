/**
 * Copying and fingerprinting the state of real cores, which expose none: the model checker
 * branches a state by deep-copying the core objects (prototypes, Maps and Sets preserved;
 * functions such as the injected `random` shared), and identifies a state by a canonical
 * serialization of those objects. Both rely only on the cores being plain class instances whose
 * state lives in their own properties — true of `CoordinatorCore` and `ParticipantCore`, and
 * checked by the model checker's tests (a copy must behave exactly like the original).
 */

/** A deep copy of `value` that keeps prototypes, Maps, Sets and shared references; functions are shared. */
export function cloneDeep<T>(value: T): T {
  return copy(value, new Map()) as T
}

function copy(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value
  const known = seen.get(value)
  if (known !== undefined) return known
  if (value instanceof Map) {
    const result = new Map()
    seen.set(value, result)
    for (const [key, item] of value) result.set(copy(key, seen), copy(item, seen))
    return result
  }
  if (value instanceof Set) {
    const result = new Set()
    seen.set(value, result)
    for (const item of value) result.add(copy(item, seen))
    return result
  }
  if (Array.isArray(value)) {
    const result: unknown[] = []
    seen.set(value, result)
    for (const item of value) result.push(copy(item, seen))
    return result
  }
  const result = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>
  seen.set(value, result)
  for (const key of Object.keys(value)) result[key] = copy((value as Record<string, unknown>)[key], seen)
  return result
}

/** How {@link canonicalize} renames and abstracts while it serializes. */
export interface CanonicalOptions {
  /** Renames a string (node ids under a symmetry permutation); identity when absent. */
  readonly rename?: (value: string) => string
  /**
   * Strings whose arrays are sorted (participant ids): the order of a participant list only
   * orders the messages of one `Ready`, which the model checker sends in any order anyway.
   */
  readonly unordered?: ReadonlySet<string>
  /** Replaces the number at property `key` (abstraction of counters that only drive time). */
  readonly abstractNumber?: (key: string, value: number) => number | string
  /** Property names to leave out (constant configuration). */
  readonly skip?: ReadonlySet<string>
}

/**
 * A canonical string for `value`: object keys, Map entries and Set members in sorted order,
 * arrays in order (except arrays of `unordered` strings, sorted), functions left out.
 * Equal strings mean states the model checker may merge.
 */
export function canonicalize(value: unknown, options: CanonicalOptions = {}): string {
  return serialize(value, options, '')
}

function serialize(value: unknown, options: CanonicalOptions, key: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(options.rename ? options.rename(value) : value)
    case 'number': {
      const abstracted = options.abstractNumber ? options.abstractNumber(key, value) : value
      return typeof abstracted === 'string' ? JSON.stringify(abstracted) : String(abstracted)
    }
    case 'boolean':
      return value ? 't' : 'f'
    case 'undefined':
      return 'u'
    case 'function':
      return 'fn'
    case 'object':
      break
    default:
      return String(value)
  }
  if (value === null) return 'n'
  if (value instanceof Map) {
    const entries = [...value].map(
      ([entryKey, item]) => `${serialize(entryKey, options, '')}:${serialize(item, options, key)}`,
    )
    return `M{${entries.sort().join(',')}}`
  }
  if (value instanceof Set) {
    return `S{${[...value]
      .map((item) => serialize(item, options, key))
      .sort()
      .join(',')}}`
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => serialize(item, options, key))
    const unordered = options.unordered
    if (unordered !== undefined && value.length > 1 && value.every((item) => unordered.has(item))) {
      items.sort()
    }
    return `[${items.join(',')}]`
  }
  const record = value as Record<string, unknown>
  const parts: string[] = []
  for (const name of Object.keys(record).sort()) {
    const item = record[name]
    if (typeof item === 'function' || options.skip?.has(name)) continue
    parts.push(`${name}=${serialize(item, options, name)}`)
  }
  return `{${parts.join(',')}}`
}

/**
 * A 106-bit fingerprint of `text` (two independent 53-bit cyrb53 hashes), as 27 hex digits.
 * The model checker keeps fingerprints of visited states instead of the strings themselves; with
 * a million states the chance of a collision is about 1e-19.
 */
export function fingerprint(text: string): string {
  return cyrb53(text, 0x9e3779b9).toString(16).padStart(14, '0') + cyrb53(text, 0x85ebca6b).toString(16)
}

function cyrb53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}
