import { TwopcError } from '../core/errors.js'
import { parseMessage } from '../core/messages.js'
import type { Ready } from '../core/ready.js'
import { parseRecord } from '../core/records.js'
import type { NodeId } from '../core/types.js'

/**
 * Checks that every message and record of a core's `Ready` is well formed: `parseMessage` /
 * `parseRecord` accept a plain copy of it and give back exactly its fields. The runtime trusts what
 * the cores build (it seals it, and the edges neither validate nor copy it again: `sealBuilt`), so
 * the simulator and the model checker check it on every `Ready` of every history.
 *
 * @throws TwopcError `INVALID_MESSAGE` or `INVALID_RECORD` naming the node and the message or record
 */
export function assertWellFormed(node: NodeId, ready: Ready<unknown>): void {
  for (const message of ready.messages) same(node, 'message', message, () => parseMessage({ ...message }))
  for (const record of ready.records) same(node, 'record', record, () => parseRecord({ ...record }))
}

function same(node: NodeId, what: 'message' | 'record', built: object, parse: () => object): void {
  const code = what === 'message' ? 'INVALID_MESSAGE' : 'INVALID_RECORD'
  let parsed: object
  try {
    parsed = parse()
  } catch (error) {
    throw new TwopcError(
      code,
      `${node} built an invalid ${what} ${JSON.stringify(built)}: ${(error as Error).message}`,
    )
  }
  if (!sameValue(parsed, built))
    throw new TwopcError(
      code,
      `${node} built a ${what} with fields the wire does not carry: ${JSON.stringify(built)}`,
    )
}

/**
 * Equal as JSON values, whatever the key order (an absent key and one set to `undefined` are the
 * same). Field by field rather than by serializing both: it runs on every message of every
 * simulated history.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, index) => sameValue(item, b[index]))
  }
  const fieldsA = definedKeys(a)
  if (fieldsA.length !== definedKeys(b).length) return false
  return fieldsA.every((key) =>
    sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  )
}

function definedKeys(value: object): string[] {
  return Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined)
}
