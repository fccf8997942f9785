/**
 * One replica, assembled: a {@link ReplicaStore} behind a twopc `Participant`. Used by the replica
 * process (over TCP, with a FileLog) and by the tests (over MemoryNetwork, with a MemoryLog).
 */
import {
  type DurableLog,
  Participant,
  type ParticipantOptions,
  type Resource,
  type Transport,
} from '../../src/index.js'
import { ReplicaStore } from './resource.js'
import type { StateStorage } from './store.js'

/** Options of {@link startReplica}: the participant's options, minus the resource, plus the storage. */
export interface ReplicaOptions extends Omit<ParticipantOptions, 'resource'> {
  readonly id: string
  readonly transport: Transport
  /** The participant's own log; never share it. */
  readonly log: DurableLog
  /** Where the store keeps its data. */
  readonly storage: StateStorage
  /**
   * Wraps the store before the participant uses it. Only tests use this, to plant a broken replica
   * and check that the checks catch it.
   */
  readonly wrapResource?: (store: ReplicaStore) => Resource
}

/** A running replica. */
export interface Replica {
  readonly store: ReplicaStore
  readonly participant: Participant
}

/**
 * Opens the store, then starts the participant on its log. While the participant loads its log,
 * the store drops staged writes the log has no `prepared` record of (see
 * {@link ReplicaStore.dropOrphans}): the two were written one after the other, and a crash can
 * fall between them.
 */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const { storage, wrapResource, log, ...participantOptions } = options
  const store = await ReplicaStore.open({ id: options.id, storage })
  const reconciled: DurableLog = {
    append: (records) => log.append(records),
    load: async () => {
      const records = await log.load()
      await store.dropOrphans(new Set(records.filter((r) => r.type === 'prepared').map((r) => r.txId)))
      return records
    },
    ...(log.forget === undefined ? {} : { forget: (txIds) => log.forget?.(txIds) }),
    ...(log.close === undefined ? {} : { close: () => log.close?.() }),
  }
  const participant = new Participant({
    ...participantOptions,
    log: reconciled,
    resource: wrapResource?.(store) ?? store,
  })
  await participant.start()
  return { store, participant }
}
