/**
 * Where a replica keeps its data on disk: one file, `store.json`, replaced atomically on every
 * change (write a temporary file, fsync it, rename it over the old one, fsync the directory), so a
 * SIGKILL at any moment leaves either the old state or the new one, never a mix. The first line is
 * a SHA-256 of the rest, checked at load: a damaged file stops the replica instead of being
 * trusted. Rewriting the whole file is the simplest crash-safe layout; it suits a small data set
 * (an append-only journal would suit a large one).
 */
import { createHash } from 'node:crypto'
import { open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Json, NodeId, TxId } from '../../src/index.js'
import { type Operation, parseOperation } from './operations.js'

/** One key's state. A deleted key keeps its entry without `value`, so its version never goes back. */
export type Entry = {
  /** How many committed writes (puts and deletes) this key has had. */
  readonly version: number
  /** The value; absent once deleted. */
  readonly value?: Json
  /** The transaction that wrote this version. */
  readonly txId: TxId
}

/** Who is in the replica set. Epoch 0 with no members: a replica that has not joined any set. */
export type Membership = {
  readonly epoch: number
  readonly members: readonly NodeId[]
}

/** Everything a replica keeps durably, in a JSON-friendly shape. */
export interface StoredState {
  /** `[key, entry]`, sorted by key. */
  readonly data: readonly (readonly [string, Entry])[]
  readonly membership: Membership
  /** Writes prepared (voted yes on) and not yet committed or aborted: `[txId, operation]`. */
  readonly staged: readonly (readonly [TxId, Operation])[]
}

/** The state of a replica that has never saved anything. */
export const EMPTY_STATE: StoredState = { data: [], membership: { epoch: 0, members: [] }, staged: [] }

/**
 * Durable storage for one replica's {@link StoredState}. `save` is called one at a time (the
 * store serializes its writes) and resolves only once the state is on stable storage.
 */
export interface StateStorage {
  /** The last saved state, or `undefined` if nothing was ever saved. Rejects if the stored state is damaged. */
  load(): Promise<StoredState | undefined>
  /** Replaces the stored state; resolves once it is durable. */
  save(state: StoredState): Promise<void>
}

/**
 * A fingerprint of the data (keys, values, versions, writers): two replicas with equal digests hold
 * the same data. `data` must be sorted by key, as in {@link StoredState}.
 */
export function dataDigest(data: readonly (readonly [string, Entry])[]): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('hex')
}

/** A {@link StateStorage} in one file, replaced atomically. */
export class FileStateStorage implements StateStorage {
  private savesCount = 0

  /** @param path the state file, e.g. `<data dir>/store.json`; its directory must exist. */
  constructor(readonly path: string) {}

  /** How many states were saved (each one: two fsyncs). */
  get saves(): number {
    return this.savesCount
  }

  async load(): Promise<StoredState | undefined> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    const newline = text.indexOf('\n')
    const json = text.slice(newline + 1)
    if (newline < 0 || text.slice(0, newline) !== sha256(json)) {
      throw new Error(`${this.path} is damaged: its checksum does not match; refusing to start`)
    }
    return parseStoredState(JSON.parse(json), this.path)
  }

  async save(state: StoredState): Promise<void> {
    const json = JSON.stringify(state)
    const temporary = `${this.path}.tmp`
    const file = await open(temporary, 'w')
    try {
      await file.writeFile(`${sha256(json)}\n${json}`)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temporary, this.path)
    // The rename itself is only durable once the directory entry is: fsync the directory.
    const directory = await open(dirname(this.path), 'r')
    try {
      await directory.sync()
    } finally {
      await directory.close()
    }
    this.savesCount += 1
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Checks the shape of a state read back from storage; throws naming `where` if it is not one. */
export function parseStoredState(value: unknown, where: string): StoredState {
  const fail = (what: string): never => {
    throw new Error(`${where}: invalid stored state (${what})`)
  }
  const state = value as Partial<Record<keyof StoredState, unknown>> | null
  if (typeof state !== 'object' || state === null) return fail('not an object')
  const { data, membership, staged } = state
  if (!Array.isArray(data) || !Array.isArray(staged)) return fail('data and staged must be arrays')
  const members = (membership as Partial<Membership> | null)?.members
  const epoch = (membership as Partial<Membership> | null)?.epoch
  if (!Number.isSafeInteger(epoch) || !Array.isArray(members)) return fail('membership')
  for (const item of data) {
    const [key, entry] = item as [unknown, Partial<Entry> | null]
    if (typeof key !== 'string' || !Number.isSafeInteger(entry?.version) || typeof entry?.txId !== 'string')
      fail(`entry ${JSON.stringify(key)}`)
  }
  const operations = staged.map((item) => {
    const [txId, payload] = item as [unknown, unknown]
    const operation = parseOperation(payload)
    if (typeof txId !== 'string' || typeof operation === 'string') return fail(`staged ${String(txId)}`)
    return [txId, operation] as const
  })
  return {
    data: data as StoredState['data'],
    membership: { epoch: epoch as number, members: members as NodeId[] },
    staged: operations,
  }
}
