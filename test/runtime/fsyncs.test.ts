/**
 * Issue 14, "real fsyncs = forced appends": on real FileLogs, a committed transaction with N
 * participants costs exactly 2N+1 fdatasync calls once the first contact is past — the lazy `end`
 * records and the forget notes ride with the next forced append instead of syncing on their own.
 * (Idle flushes are switched off here — a frozen runtime clock, `forgetDelayMs: Infinity` — so
 * that the count cannot depend on how fast this machine is.)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type Clock, Coordinator, MemoryNetwork, Participant } from '../../src/index.js'
import { FileLog } from '../../src/node.js'

const frozenClock: Clock = { now: () => 0, setTimeout: () => ({}), clearTimeout: () => {} }
const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('real fsyncs per committed transaction', () => {
  it.each([
    [1, 1],
    [2, 5],
    [3, 7],
  ])(
    'N=%i: exactly %i fdatasync calls per committed transaction at C=1 (2N+1; one-phase: 1)',
    async (n, perTx) => {
      const directory = await mkdtemp(join(tmpdir(), 'twopc-fsyncs-'))
      cleanups.push(() => rm(directory, { recursive: true, force: true }))
      const net = new MemoryNetwork()
      const logs: FileLog[] = []
      const log = (id: string) => {
        const file = new FileLog({
          path: join(directory, `${id}.log`),
          forgetDelayMs: Number.POSITIVE_INFINITY,
          compactAfterRecords: Number.POSITIVE_INFINITY,
        })
        logs.push(file)
        return file
      }
      const ids = Array.from({ length: n }, (_, i) => `p${i + 1}`)
      const coordinator = new Coordinator({
        id: 'coord',
        transport: net.connect('coord'),
        log: log('coord'),
        clock: frozenClock,
      })
      const resource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }
      const participants = ids.map(
        (id) =>
          new Participant({ id, transport: net.connect(id), log: log(id), resource, clock: frozenClock }),
      )
      await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
      cleanups.push(async () => {
        await Promise.all([coordinator.close(), ...participants.map((participant) => participant.close())])
      })
      const commitOne = async (txId: string) => {
        const outcome = await coordinator.commit({
          txId,
          participants: Object.fromEntries(ids.map((id) => [id, txId])),
        })
        expect(outcome.decision).toBe('commit')
        await coordinator.completion(txId)
      }
      const syncs = () => logs.reduce((sum, file) => sum + file.stats().syncs, 0)
      // First contact (the probe) and one transaction whose lazy records the next one carries.
      await commitOne('warm-up-1')
      await commitOne('warm-up-2')
      const before = syncs()
      for (let i = 0; i < 10; i++) await commitOne(`t${i}`)
      expect(syncs() - before).toBe(10 * perTx)
    },
  )
})
