/**
 * What a replica answers outside 2PC: reads, its status, and the snapshot a new replica copies.
 * A `ReplicaStore` answers these in its own process; `ProcessReplica` asks a replica process for
 * them over IPC. The leader talks to replicas only through these types and through 2PC.
 */
import type { Json, NodeId } from '../../src/index.js'
import type { Entry, Membership } from './store.js'

/** A read of one key, served locally by one replica from its committed data. */
export interface ReadResult {
  /** The value, or `undefined` if the key was never written or is deleted. */
  readonly value: Json | undefined
  /** The key's version (0 if never written): pass it as `expectedVersion` for a conditional write. */
  readonly version: number
}

/** A replica's view of itself. */
export interface ReplicaStatus {
  readonly id: NodeId
  /** The replica set as this replica last committed it. */
  readonly membership: Membership
  /** Writes prepared here and not yet committed or aborted. */
  readonly staged: number
  /** `dataDigest` of its data. */
  readonly digest: string
  /** Keys holding a value (deleted keys excluded). */
  readonly keys: number
}

/** A copy of a replica's committed data and membership, taken while nothing was staged. */
export interface Snapshot {
  readonly data: readonly (readonly [string, Entry])[]
  readonly membership: Membership
  /** `dataDigest(data)`, checked by the replica that installs it. */
  readonly digest: string
}

/** One replica as the leader and clients see it. Every call rejects if the replica cannot be reached. */
export interface ReplicaClient {
  /** Reads `key` from this replica's committed data (no 2PC: reads stay available while writes block). */
  get(key: string): Promise<ReadResult>
  status(): Promise<ReplicaStatus>
  /** Its data and membership. Rejects while it has staged writes: a copy must not miss a decided write. */
  snapshot(): Promise<Snapshot>
  /**
   * Replaces its data and membership with `snapshot` (the first step of joining a set). Rejects if
   * it has staged writes, or if the snapshot is older than the membership it holds.
   */
  install(snapshot: Snapshot): Promise<void>
}

/** The replicas a leader knows about. */
export interface ReplicaDirectory {
  /** Every replica id the leader may ask for the current membership (members and former members). */
  ids(): readonly NodeId[]
  /** How to reach replica `id`. */
  client(id: NodeId): ReplicaClient
}
