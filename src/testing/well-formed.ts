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
      `${node} built an invalid ${what} ${canonicalJson(built)}: ${(error as Error).message}`,
    )
  }
  if (canonicalJson(parsed) !== canonicalJson(built))
    throw new TwopcError(
      code,
      `${node} built a ${what} with fields the wire does not carry: ${canonicalJson(built)}`,
    )
}

/** JSON with every object's keys sorted, so that equal values read the same whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  )
}
