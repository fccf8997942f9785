import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { startNaive2pc } from '../../bench/baselines/naive-2pc.js'
import { runCell } from '../../bench/cell.js'
import { measureCosts } from '../../bench/library/costs.js'
import { startLocalCluster } from '../../bench/library/local-cluster.js'
import { runOverload } from '../../bench/overload.js'
import { cell } from '../../bench/plan.js'
import { MIXES, type Mix } from '../../bench/workloads.js'

/**
 * The benchmark's workloads cost exactly what the protocol says (DESIGN.md §2), counted over ten
 * transactions (one cycle of the 10 % no-vote mix) after a first one: a committed transaction with
 * `y` yes voters among `n` participants costs 2n + 2y messages and 2y + 1 forced writes; an
 * aborted one (one no, n − 1 yes) costs prepare and vote to all, an abort to each yes voter, and
 * their n − 1 prepared records; a read-only vote costs two messages and no write.
 *
 * The first transaction between the coordinator and its participants (transaction 0, committed in
 * every mix) costs 2n more messages: each participant refuses a probe (a `prepare` bound to no
 * incarnation) with a `no` vote that writes nothing, and gets the prepare again. Each node start
 * forces one record, its incarnation: n + 1 in all.
 */
function expectedCosts(n: number, mix: Mix) {
  const yes = mix === 'read-only-50' ? Math.ceil(n / 2) : n
  const commits = mix === 'no-votes-10' ? 9 : 10
  const aborts = 10 - commits
  return {
    messagesByType: {
      prepare: 10 * n,
      vote: 10 * n,
      commit: commits * yes,
      abort: aborts * (n - 1),
      ack: commits * yes,
      'decision-request': 0,
    },
    forcedWritesPerTx: (commits * (2 * yes + 1) + aborts * (n - 1)) / 10,
    startForcedWrites: n + 1,
    firstContact: {
      messagesByType: {
        prepare: 2 * n,
        vote: 2 * n,
        commit: yes,
        abort: 0,
        ack: yes,
        'decision-request': 0,
      },
      forcedWrites: 2 * yes + 1,
    },
  }
}

describe('the exact cost of the benchmark workloads', () => {
  for (const mix of MIXES) {
    test.each([2, 4, 8, 16])(
      `${mix} with %i participants sends and forces exactly what the protocol says`,
      async (n) => {
        const costs = await measureCosts(n, mix, 10)
        const expected = expectedCosts(n, mix)
        expect(costs.messagesByType).toEqual(expected.messagesByType)
        expect(costs.messagesPerTx).toBe(
          Object.values(expected.messagesByType).reduce((sum, messages) => sum + messages, 0) / 10,
        )
        expect(costs.forcedWritesPerTx).toBe(expected.forcedWritesPerTx)
        expect(costs.bytesPerTx).toBeGreaterThan(costs.messagesPerTx * 50)
        expect(costs.startForcedWrites).toBe(expected.startForcedWrites)
        expect(costs.firstContact).toEqual(expected.firstContact)
      },
    )
  }
})

describe('what a timed cell reports', () => {
  const directories: string[] = []
  afterEach(async () => {
    for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true })
  })
  const timing = { warmupMs: 50, durationMs: 150 }

  test('twopc in memory reports 4N messages and 2N+1 forced writes per transaction, under concurrency', async () => {
    const spec = cell({ n: 4, c: 10 })
    const cluster = await startLocalCluster({ ...spec, directory: '' })
    const result = await runCell(cluster, spec, timing, 1234)
    await cluster.close()
    expect(result.transactions).toBeGreaterThan(0)
    expect(result.messagesPerTx).toBe(16)
    expect(result.forcedWritesPerTx).toBe(9)
    expect(result.fsyncsPerTx).toBeNull()
    expect(result.bytesPerTx).toBe(1234)
  })

  test('twopc on FileLogs reports the same forced writes, and counts the fsyncs that made them durable', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'twopc-bench-test-'))
    directories.push(directory)
    const spec = cell({ log: 'file-group', c: 10 })
    const cluster = await startLocalCluster({ ...spec, directory })
    const result = await runCell(cluster, spec, timing, null)
    await cluster.close()
    expect(result.messagesPerTx).toBe(8)
    expect(result.forcedWritesPerTx).toBe(5)
    expect(result.fsyncsPerTx).toBeGreaterThan(0)
  })

  test('the naive durable 2PC forces the same 2N+1 writes per committed transaction as twopc', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'twopc-bench-test-'))
    directories.push(directory)
    const spec = cell({ system: 'naive-durable', log: 'file-group', c: 10 })
    const naive = await startNaive2pc({ n: 2, mix: 'all-commit', directory })
    const result = await runCell(naive, spec, timing, null)
    await naive.close()
    expect(result.messagesPerTx).toBe(8)
    expect(result.forcedWritesPerTx).toBe(5)
    expect(result.fsyncsPerTx).toBeGreaterThan(0)
  })

  test('the cloning naive 2PC sends the same 4N messages as the no-copy one, and writes nothing', async () => {
    const spec = cell({ system: 'naive-memory-clone', n: 4, c: 10 })
    const naive = await startNaive2pc({ n: 4, mix: 'all-commit', directory: undefined, clone: true })
    const result = await runCell(naive, spec, timing, null)
    await naive.close()
    expect(result.transactions).toBeGreaterThan(0)
    expect(result.messagesPerTx).toBe(16)
    expect(result.forcedWritesPerTx).toBe(0)
    expect(result.fsyncsPerTx).toBeNull()
    expect(result.outcomes).toEqual({})
  })

  test('a twopc cell counts its transactions by the outcome commit() resolved', async () => {
    const spec = cell({ mix: 'no-votes-10', c: 10 })
    const cluster = await startLocalCluster({ ...spec, directory: '' })
    const result = await runCell(cluster, spec, timing, null)
    await cluster.close()
    const { commit = 0, 'abort: vote-no': voteNo = 0, ...others } = result.outcomes
    expect(others).toEqual({})
    expect(commit + voteNo).toBe(result.transactions)
    expect(voteNo).toBeGreaterThan(0)
  })

  test('an overload cell at low concurrency sends exactly 4N messages per committed transaction, over real TCP', async () => {
    const result = await runOverload({ n: 3, c: 20 }, timing)
    expect(result.committed).toBeGreaterThan(0)
    expect(result.outcomes).toEqual({ commit: result.committed })
    expect(result.transactions).toBe(result.committed)
    expect(result.prepareTimeouts).toBe(0)
    expect(result.messagesPerCommittedTx).toBe(12)
    expect(result.messagesByType).toEqual({
      prepare: 3 * result.committed,
      vote: 3 * result.committed,
      commit: 3 * result.committed,
      abort: 0,
      ack: 3 * result.committed,
      'decision-request': 0,
    })
    expect(result.transport).toEqual({ dropped: {}, rejected: {} })
  })
})
