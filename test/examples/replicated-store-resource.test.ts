import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startReplica } from '../../examples/replicated-store/replica.js'
import { ReplicaStore } from '../../examples/replicated-store/resource.js'
import { ReadWriteLock } from '../../examples/replicated-store/rw-lock.js'
import { dataDigest, FileStateStorage } from '../../examples/replicated-store/store.js'
import { type Json, MemoryLog, MemoryNetwork, type TransactionInfo } from '../../src/index.js'
import { MemoryDisk } from './replicated-store-cluster.js'

const tx = (txId: string, payload: Json): TransactionInfo => ({
  txId,
  payload,
  coordinator: 'leader',
  participants: ['r1'],
})
const put = (key: string, value: Json, extra: { expectedVersion?: number; epoch?: number } = {}) => ({
  type: 'put',
  epoch: 1,
  key,
  value,
  ...extra,
})

/** A store of replica r1, in a set of r1 and r2 at epoch 1. */
async function memberStore(disk = new MemoryDisk()): Promise<ReplicaStore> {
  const store = await ReplicaStore.open({ id: 'r1', storage: disk.open() })
  const join = tx('m1', { type: 'membership', epoch: 1, members: ['r1', 'r2'], digest: dataDigest([]) })
  expect(await store.prepare(join)).toBe('yes')
  await store.commit(join)
  return store
}

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

describe('ReplicaStore: the replica as a twopc resource', () => {
  it('votes no on a write whose expected version is not the current one, and yes on one that is', async () => {
    const store = await memberStore()
    const first = tx('w1', put('a', 1, { expectedVersion: 0 }))
    expect(await store.prepare(first)).toBe('yes')
    await store.commit(first)
    expect(await store.prepare(tx('w2', put('a', 2, { expectedVersion: 0 })))).toBe('no')
    expect(await store.prepare(tx('w3', put('a', 3, { expectedVersion: 1 })))).toBe('yes')
    expect(await store.get('a')).toEqual({ value: 1, version: 1 })
  })

  it('stages one write per key: a second write to that key votes no until the first is decided', async () => {
    const store = await memberStore()
    const first = tx('w1', put('a', 1))
    expect(await store.prepare(first)).toBe('yes')
    expect(await store.prepare(tx('w2', put('a', 2)))).toBe('no')
    expect(await store.prepare(tx('w3', put('b', 3)))).toBe('yes')
    await store.abort(first)
    expect(await store.prepare(tx('w4', put('a', 4)))).toBe('yes')
  })

  it('applies a repeated commit once, and ignores an abort of what it never staged', async () => {
    const store = await memberStore()
    const write = tx('w1', put('a', 'x'))
    await store.prepare(write)
    await store.commit(write)
    await store.commit(write)
    await store.abort(tx('never', put('a', 'y')))
    expect(await store.get('a')).toEqual({ value: 'x', version: 1 })
  })

  it('keeps its version across a delete, so a recreate must expect that version', async () => {
    const store = await memberStore()
    for (const [txId, payload] of [
      ['w1', put('a', 1)],
      ['w2', { type: 'delete', epoch: 1, key: 'a' }],
    ] as const) {
      await store.prepare(tx(txId, payload))
      await store.commit(tx(txId, payload))
    }
    expect(await store.get('a')).toEqual({ value: undefined, version: 2 })
    expect(await store.prepare(tx('w3', put('a', 3, { expectedVersion: 0 })))).toBe('no')
  })

  it('refuses writes for another epoch, and every write while a membership change is staged', async () => {
    const store = await memberStore()
    expect(await store.prepare(tx('w1', put('a', 1, { epoch: 0 })))).toBe('no')
    expect(await store.prepare(tx('w2', put('a', 1, { epoch: 2 })))).toBe('no')
    const change = tx('m2', { type: 'membership', epoch: 2, members: ['r1'], digest: dataDigest([]) })
    expect(await store.prepare(change)).toBe('yes')
    expect(await store.prepare(tx('w3', put('b', 1, { epoch: 1 })))).toBe('no')
    await store.commit(change)
    expect(await store.prepare(tx('w4', put('b', 1, { epoch: 2 })))).toBe('yes')
  })

  it('refuses a membership change while a write is staged or when its data differs from the digest', async () => {
    const store = await memberStore()
    const write = tx('w1', put('a', 1))
    await store.prepare(write)
    const change = { type: 'membership', epoch: 2, members: ['r1', 'r2'], digest: dataDigest([]) }
    expect(await store.prepare(tx('m2', change))).toBe('no')
    await store.commit(write)
    expect(await store.prepare(tx('m3', change))).toBe('no')
  })

  it('keeps a staged write across a restart, and drops one its log never recorded', async () => {
    const disk = new MemoryDisk()
    const store = await memberStore(disk)
    await store.prepare(tx('orphan', put('a', 1))) // staged, then "crashed" before the prepared record
    disk.crash()
    const replica = await startReplica({
      id: 'r1',
      transport: new MemoryNetwork().connect('r1'),
      log: new MemoryLog(),
      storage: disk.open(),
    })
    expect(replica.store.state().staged).toEqual([])
    expect(await replica.store.prepare(tx('w2', put('a', 2)))).toBe('yes') // the key is free again
    await replica.participant.close()
  })

  it('gives no snapshot while a write is staged, and installs only a newer, intact one', async () => {
    const source = await memberStore()
    const write = tx('w1', put('a', 1))
    await source.prepare(write)
    await expect(source.snapshot()).rejects.toThrow(/staged/)
    await source.commit(write)
    const snapshot = await source.snapshot()
    const fresh = await ReplicaStore.open({ id: 'r3', storage: new MemoryDisk().open() })
    await expect(fresh.install({ ...snapshot, digest: 'forged' })).rejects.toThrow(/digest/)
    await fresh.install(snapshot)
    expect((await fresh.status()).digest).toBe((await source.status()).digest)
    await expect(fresh.install({ ...snapshot, membership: { epoch: 0, members: [] } })).rejects.toThrow(
      /older/,
    )
  })
})

describe('FileStateStorage: one file, replaced atomically', () => {
  it('reads back what it saved after a reopen, ignores a leftover temporary file, and refuses a damaged file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'twopc-store-'))
    directories.push(directory)
    const path = join(directory, 'store.json')
    const store = await ReplicaStore.open({ id: 'r1', storage: new FileStateStorage(path) })
    const join1 = tx('m1', { type: 'membership', epoch: 1, members: ['r1'], digest: dataDigest([]) })
    await store.prepare(join1)
    await store.commit(join1)
    await store.prepare(tx('w1', put('a', 'kept')))
    await store.commit(tx('w1', put('a', 'kept')))
    await store.prepare(tx('w2', put('b', 'staged')))
    writeFileSync(`${path}.tmp`, 'half a write') // a crash mid-save leaves this behind

    const reopened = await ReplicaStore.open({ id: 'r1', storage: new FileStateStorage(path) })
    expect(reopened.state()).toEqual(store.state())
    expect(reopened.state().staged.map(([txId]) => txId)).toEqual(['w2'])

    writeFileSync(path, readFileSync(path, 'utf8').replace('kept', 'kEpt'))
    await expect(new FileStateStorage(path).load()).rejects.toThrow(/checksum/)
  })
})

describe('ReadWriteLock', () => {
  it('runs shared tasks together, an exclusive one alone, and lets no shared task overtake a waiting exclusive one', async () => {
    const lock = new ReadWriteLock()
    const order: string[] = []
    const task = (name: string, ms: number) => async () => {
      order.push(`${name}+`)
      await new Promise((resolve) => setTimeout(resolve, ms))
      order.push(`${name}-`)
    }
    await Promise.all([
      lock.shared(task('w1', 20)),
      lock.shared(task('w2', 10)),
      lock.exclusive(task('m', 5)),
      lock.shared(task('w3', 1)),
    ])
    expect(order).toEqual(['w1+', 'w2+', 'w2-', 'w1-', 'm+', 'm-', 'w3+', 'w3-'])
  })
})
