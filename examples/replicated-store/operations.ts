/**
 * What the leader asks every replica to prepare: a write to one key, or a change of the replica
 * set. These are the 2PC payloads, so they are plain JSON, and a replica parses each one before it
 * trusts it (validate at both ends of a boundary).
 */
import type { Json, NodeId } from '../../src/index.js'

/** Longest key accepted, in characters. */
export const MAX_KEY_LENGTH = 256
/** Largest value accepted, in bytes of its JSON: a write travels in one transport frame. */
export const MAX_VALUE_BYTES = 64 * 1024
/** Most replicas in one set. */
export const MAX_MEMBERS = 64

/**
 * Sets `key` to `value`. `epoch` is the membership epoch the leader wrote it for: a replica at
 * another epoch votes no, so a write can never commit on a stale replica set.
 */
export type PutOperation = {
  readonly type: 'put'
  readonly epoch: number
  readonly key: string
  readonly value: Json
  /** Commit only if the key is at this version now (0: it was never written). Absent: unconditional. */
  readonly expectedVersion?: number
}

/** Deletes `key` (it keeps its version, so a later conditional write cannot mistake it for new). */
export type DeleteOperation = {
  readonly type: 'delete'
  readonly epoch: number
  readonly key: string
  /** As for {@link PutOperation.expectedVersion}. */
  readonly expectedVersion?: number
}

/**
 * Makes `members` the replica set at `epoch` (one more than the current one). Sent to every member
 * of the new set; `digest` is the data every one of them must hold (see `dataDigest`), so a member
 * whose copy differs refuses the change.
 */
export type MembershipOperation = {
  readonly type: 'membership'
  readonly epoch: number
  readonly members: readonly NodeId[]
  readonly digest: string
}

/** Every payload a replica may be asked to prepare, tagged by `type`. */
export type Operation = PutOperation | DeleteOperation | MembershipOperation

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

function validKey(key: unknown): key is string {
  return typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH
}

/**
 * Parses an untrusted payload into an {@link Operation}, or returns a reason why it is not one.
 * Unknown fields are dropped.
 */
export function parseOperation(value: unknown): Operation | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object'
  const fields = value as Record<string, unknown>
  const { type, epoch, key, expectedVersion } = fields
  if (!isCount(epoch)) return `bad epoch ${String(epoch)}`
  if (type === 'put' || type === 'delete') {
    if (!validKey(key)) return `bad key ${JSON.stringify(key)}`
    if (expectedVersion !== undefined && !isCount(expectedVersion))
      return `bad expectedVersion ${String(expectedVersion)}`
    const condition = expectedVersion === undefined ? {} : { expectedVersion }
    if (type === 'delete') return { type, epoch, key, ...condition }
    const json = JSON.stringify(fields.value)
    if (json === undefined) return 'a put needs a JSON value'
    if (Buffer.byteLength(json) > MAX_VALUE_BYTES) return `value over ${MAX_VALUE_BYTES} bytes`
    return { type, epoch, key, value: JSON.parse(json) as Json, ...condition }
  }
  if (type === 'membership') {
    const { members, digest } = fields
    if (
      !Array.isArray(members) ||
      members.length === 0 ||
      members.length > MAX_MEMBERS ||
      !members.every((id) => typeof id === 'string' && id.length > 0) ||
      new Set(members).size !== members.length
    )
      return 'bad members'
    if (typeof digest !== 'string') return 'bad digest'
    return { type, epoch, members: [...(members as string[])], digest }
  }
  return `unknown type ${String(type)}`
}
