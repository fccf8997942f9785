import { describe, expect, it } from 'vitest'
import { TwopcError } from '../core/errors.js'
import type { LogRecord, PreparedRecord } from '../core/records.js'
import type { Json, TxId } from '../core/types.js'
import type { DurableLog } from '../runtime/interfaces.js'

/**
 * One empty piece of storage (a fresh file, table, key prefix…) that the suite opens as a log,
 * possibly several times in turn, as restarts of one node would.
 */
export interface DurableLogStorage {
  /**
   * Returns a log over this storage, as a node does when it starts. The suite calls `load()` on it
   * before anything else, and `close()` (if the log has it) before opening the storage again. A log
   * that lives only in memory may return the same instance every time.
   */
  open(): DurableLog | Promise<DurableLog>
  /**
   * Stops `log` as `kill -9` would: no `close()`, and nothing it has not made durable survives.
   * Afterwards `open()` must succeed (release a lock, say). Optional: without it, the suite
   * restarts with `close()` instead, which proves less about `append`.
   */
  kill?(log: DurableLog): void | Promise<void>
  /** Releases the storage after a test (delete the temporary directory). Optional. */
  cleanup?(): void | Promise<void>
}

/** Makes fresh, empty {@link DurableLogStorage} for one test; called once per test. */
export type DurableLogFactory = () => DurableLogStorage | Promise<DurableLogStorage>

/**
 * Registers vitest tests that check a {@link DurableLog} implementation against the contract the
 * runtime relies on: records load back, in order, after a restart (and again from a second `load()`);
 * an `append` is durable when it
 * resolves; invalid records are rejected without writing anything; `forget` (if implemented)
 * drops exactly the records it names. Call it at the top level of a vitest test file (it uses
 * `describe`, `it` and `expect` from `vitest`, which must be installed).
 *
 * @param name - names the `describe` block
 * @param factory - makes fresh, empty storage for each test
 *
 * @example
 * ```ts
 * // test/my-log.test.ts
 * import { runDurableLogConformance } from 'twopc/testing'
 * runDurableLogConformance('SqliteLog', async () => {
 *   const file = await makeTempFile()
 *   return { open: () => new SqliteLog(file), cleanup: () => rm(file) }
 * })
 * ```
 */
export function runDurableLogConformance(name: string, factory: DurableLogFactory): void {
  const test = (title: string, body: (session: Session, skip: (note: string) => void) => Promise<void>) =>
    it(title, async (context) => {
      const session = new Session(await factory())
      try {
        await body(session, (note) => context.skip(note))
      } finally {
        await session.dispose()
      }
    })

  describe(`DurableLog conformance: ${name}`, () => {
    test('new storage loads no records', async (session) => {
      const { records } = await session.start()
      expect(records).toEqual([])
    })

    test('every record type loads back unchanged after a restart', async (session) => {
      const { log } = await session.start()
      await log.append(EVERY_RECORD_TYPE.slice(0, 3))
      await log.append(EVERY_RECORD_TYPE.slice(3))
      const { records } = await session.restart(log)
      expect(records).toEqual(EVERY_RECORD_TYPE)
    })

    // Found by review: nothing checked it, and a log whose second load() differed passed.
    test('load() called again returns the same records (a resource may read them before the node)', async (session) => {
      const { log } = await session.start()
      await log.append([commit('tx-1'), prepared('tx-2')])
      const { log: reopened, records } = await session.restart(log)
      expect(records).toEqual([commit('tx-1'), prepared('tx-2')])
      expect(await reopened.load()).toEqual(records)
    })

    test('many concurrent appends load back in call order', async (session) => {
      const { log } = await session.start()
      const batches = Array.from({ length: 300 }, (_, i) =>
        Array.from({ length: i % 4 }, (_, j) => prepared(`tx-${i}-${j}`, { i, j })),
      )
      await Promise.all(batches.map((batch) => log.append(batch)))
      const { records } = await session.restart(log)
      expect(records).toEqual(batches.flat())
    })

    test('an append is durable once it resolves: it survives a kill', async (session) => {
      const { log } = await session.start()
      await log.append([prepared('tx-1'), outcome('tx-1', 'commit')])
      const { records } = await session.crash(log)
      expect(records).toEqual([prepared('tx-1'), outcome('tx-1', 'commit')])
    })

    test('an empty append resolves and stores nothing', async (session) => {
      const { log } = await session.start()
      await log.append([commit('tx-1')])
      await log.append([])
      const { records } = await session.restart(log)
      expect(records).toEqual([commit('tx-1')])
    })

    test('append stores the records as they were when it was called', async (session) => {
      const { log } = await session.start()
      const payload = { amount: 100 }
      const record = prepared('tx-1', payload)
      const appended = log.append([record])
      payload.amount = 1_000_000
      Object.assign(record, { txId: 'tx-changed' })
      await appended
      const { records } = await session.restart(log)
      expect(records).toEqual([prepared('tx-1', { amount: 100 })])
    })

    test('an invalid record rejects its whole append, writes nothing and leaves the log usable', async (session) => {
      const { log } = await session.start()
      await log.append([commit('tx-before')])
      for (const invalid of INVALID_RECORDS) {
        let appended: Promise<void> | undefined
        expect(() => {
          appended = log.append([end('tx-valid-neighbour'), invalid as LogRecord])
        }, 'append must reject, not throw').not.toThrow()
        const error: unknown = await appended?.then(
          () => undefined,
          (reason: unknown) => reason,
        )
        expect(error, `append of ${JSON.stringify(invalid)}`).toBeInstanceOf(TwopcError)
        expect((error as TwopcError).code).toBe('INVALID_RECORD')
      }
      await log.append([commit('tx-after')])
      const { records } = await session.restart(log)
      expect(records).toEqual([commit('tx-before'), commit('tx-after')])
    })

    test('a 1 MiB payload round-trips', async (session) => {
      const { log } = await session.start()
      const text = 'ascii ü € 😀 '.repeat(65_536) // multi-byte characters: bytes ≠ characters
      const payload = {
        text,
        numbers: Array.from({ length: 10_000 }, (_, i) => i * 1.5),
        nested: { deep: [null] },
      }
      await log.append([prepared('tx-big', payload), end('tx-small')])
      const { records } = await session.restart(log)
      expect(records).toEqual([prepared('tx-big', payload), end('tx-small')])
    })

    test('forget drops exactly the named transactions, also after a restart', async (session, skip) => {
      const { log } = await session.start()
      if (log.forget === undefined) return skip('the log does not implement forget')
      await log.append([prepared('tx-a'), prepared('tx-b')])
      await log.append([commit('tx-c'), outcome('tx-a', 'commit'), outcome('tx-b', 'abort')])
      await log.append([end('tx-a'), end('tx-c')])
      await log.forget(['tx-a', 'tx-c', 'tx-never-seen'])
      await log.append([end('tx-b')])
      const { records } = await session.restart(log)
      expect(records).toEqual([prepared('tx-b'), outcome('tx-b', 'abort'), end('tx-b')])
    })

    test('forget spares records of the transaction appended after it', async (session, skip) => {
      const { log } = await session.start()
      if (log.forget === undefined) return skip('the log does not implement forget')
      await log.append([prepared('tx-a'), end('tx-a')])
      await log.forget(['tx-a'])
      await log.append([outcome('tx-a', 'abort')])
      const { records } = await session.restart(log)
      expect(records).toEqual([outcome('tx-a', 'abort')])
    })
  })
}

/** The logs one test opened, restarted and crashed, in turn, over one storage. */
class Session {
  private readonly open: DurableLog[] = []

  constructor(private readonly storage: DurableLogStorage) {}

  async start(): Promise<{ log: DurableLog; records: LogRecord[] }> {
    const log = await this.storage.open()
    this.open.push(log)
    return { log, records: await log.load() }
  }

  async restart(log: DurableLog): Promise<{ log: DurableLog; records: LogRecord[] }> {
    this.forgetLog(log)
    await log.close?.()
    return this.start()
  }

  async crash(log: DurableLog): Promise<{ log: DurableLog; records: LogRecord[] }> {
    if (this.storage.kill === undefined) return this.restart(log)
    this.forgetLog(log)
    await this.storage.kill(log)
    return this.start()
  }

  async dispose(): Promise<void> {
    for (const log of new Set(this.open)) await log.close?.()
    await this.storage.cleanup?.()
  }

  private forgetLog(log: DurableLog): void {
    const index = this.open.lastIndexOf(log)
    if (index >= 0) this.open.splice(index, 1)
  }
}

function prepared(txId: TxId, payload: Json = { amount: 100 }): PreparedRecord {
  return {
    type: 'prepared',
    txId,
    coordinator: 'coord',
    participants: ['bank-a', 'bank-b'],
    payload,
    onePhase: false,
  }
}

function outcome(txId: TxId, decision: 'commit' | 'abort'): LogRecord {
  return { type: 'outcome', txId, decision }
}

function commit(txId: TxId): LogRecord {
  return { type: 'commit', txId, participants: ['bank-a', 'bank-b'] }
}

function end(txId: TxId): LogRecord {
  return { type: 'end', txId }
}

const EVERY_RECORD_TYPE: readonly LogRecord[] = [
  commit('tx-1'),
  end('tx-1'),
  prepared('tx-2', null),
  { ...prepared('tx-3', 'a string'), onePhase: true },
  prepared('tx-4', { nested: { list: [1, 2.5, -3, true, false, null, 'ünïcødé 😀'] }, empty: {} }),
  prepared('tx-5', [0, '', []]),
  outcome('tx-2', 'commit'),
  outcome('tx-3', 'abort'),
  { type: 'outcome', txId: 'tx-4', decision: 'abort', heuristic: 'operator: bank-b unreachable for 2 days' },
  { type: 'incarnation', txId: '~inc:1', n: 1, node: 'bank-a', role: 'participant' },
  { type: 'commit', txId: 'tx with spaces/and:punctuation', participants: ['only-one'] },
]

const INVALID_RECORDS: readonly unknown[] = [
  null,
  'prepared',
  [end('tx-1')],
  { type: 'vote', txId: 'tx-1' },
  { type: 'end' },
  { type: 'end', txId: '' },
  { type: 'end', txId: 'tx\nnewline' },
  { type: 'commit', txId: 'tx-1', participants: [] },
  { type: 'commit', txId: 'tx-1', participants: ['a', 'a'] },
  { type: 'prepared', txId: 'tx-1', coordinator: 'coord', participants: ['a'], onePhase: false },
  { type: 'prepared', txId: 'tx-1', coordinator: 'coord', participants: ['a'], payload: 1, onePhase: 'no' },
  { type: 'outcome', txId: 'tx-1', decision: 'maybe' },
]
