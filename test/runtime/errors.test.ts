import { describe, expect, it } from 'vitest'
import { Coordinator, MemoryLog, MemoryNetwork, Participant, type TwopcError } from '../../src/index.js'
import { Cluster } from './cluster.js'

const noopResource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }

describe('bad input and failures', () => {
  it.each([
    [
      { prepareTimeoutMs: -1 },
      'Expected `prepareTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got -1',
    ],
    [
      { retransmitIntervalMs: 0 },
      'Expected `retransmitIntervalMs` to be a positive integer of milliseconds, at most 2147483647, got 0',
    ],
    // Found by review: past 2³¹ − 1 ms Node fires a timer at once (with a warning), every millisecond.
    [
      { prepareTimeoutMs: 3e9 },
      'Expected `prepareTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got 3000000000',
    ],
    [
      { maxInFlightTransactions: 1.5 },
      'Expected `maxInFlightTransactions` to be a positive integer, got 1.5',
    ],
    [{ id: '' }, 'Expected `id` to be a non-empty string of printable characters, got ""'],
    [
      { transport: {} },
      'Expected `transport` to be an object with methods `send`, `onMessage`, got an object',
    ],
    [
      { retransmitIntervalMs: 500, retransmitIntervalMsMax: 100 },
      'Expected `retransmitIntervalMsMax` to be at least',
    ],
  ] as [Record<string, unknown>, string][])(
    'rejects coordinator options %o with a message naming the option',
    (override, message) => {
      const net = new MemoryNetwork()
      const create = () =>
        new Coordinator({
          id: 'c',
          transport: net.connect('c'),
          log: new MemoryLog(),
          ...(override as object),
        })
      expect(create).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining(message) }),
      )
    },
  )

  it('rejects a participant without a usable resource', () => {
    const net = new MemoryNetwork()
    const create = () =>
      new Participant({
        id: 'p',
        transport: net.connect('p'),
        log: new MemoryLog(),
        resource: { prepare: () => 'yes' } as never,
      })
    expect(create).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('`resource`') }),
    )
  })

  it('rejects commit() before start, with an empty participant set, and after close', async () => {
    const net = new MemoryNetwork()
    const coordinator = new Coordinator({ id: 'c', transport: net.connect('c'), log: new MemoryLog() })
    await expect(coordinator.commit({ participants: { a: 1 } })).rejects.toMatchObject({
      code: 'NOT_STARTED',
    })
    await coordinator.start()
    await expect(coordinator.commit({ participants: {} })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(coordinator.commit({ participants: { c: 1 } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    // A txId that is not a string (found by review: the payload check's byte count threw a TypeError).
    for (const txId of [42, ['x']])
      await expect(coordinator.commit({ txId: txId as never, participants: { a: 1 } })).rejects.toMatchObject(
        {
          code: 'INVALID_REQUEST',
        },
      )
    await coordinator.close()
    await expect(coordinator.commit({ participants: { a: 1 } })).rejects.toMatchObject({ code: 'CLOSED' })
  })

  it('close() while start() is loading the log wins: start() rejects with CLOSED and the log is released', async () => {
    // Found by the runtime simulation's author: start() used to set the node running after a
    // close() that came during the load, so a closed node went on receiving and sending.
    const net = new MemoryNetwork()
    const log = new MemoryLog()
    let finishLoad = () => {}
    const loaded = new Promise<void>((resolve) => {
      finishLoad = resolve
    })
    let logClosed = false
    const slowLog = {
      append: (records: Parameters<MemoryLog['append']>[0]) => log.append(records),
      load: async () => {
        await loaded
        return log.load()
      },
      close: () => {
        logClosed = true
      },
    }
    const participant = new Participant({
      id: 'p',
      transport: net.connect('p'),
      log: slowLog,
      resource: noopResource,
    })
    const starting = participant.start()
    const closing = participant.close()
    finishLoad()
    await expect(starting).rejects.toMatchObject({ code: 'CLOSED' })
    await closing
    expect(logClosed).toBe(true)
    // Nothing was written: the node never ran (a started participant forces its `incarnation` record).
    expect(await log.load()).toEqual([])
  })

  it('rejects a transaction id used before and transactions beyond maxInFlightTransactions', async () => {
    const cluster = new Cluster(['a', 'b'], { coordinator: { maxInFlightTransactions: 2 } })
    cluster.resource('a').vote = () => new Promise(() => {})
    await cluster.start()
    void cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't1' }).catch(() => {})
    void cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't2' }).catch(() => {})
    await expect(
      cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't1' }),
    ).rejects.toMatchObject({
      code: 'DUPLICATE_TRANSACTION',
    })
    await expect(cluster.coordinator.commit({ participants: { a: 1, b: 1 } })).rejects.toMatchObject({
      code: 'TOO_MANY_TRANSACTIONS',
    })
    await cluster.close()
  })

  it('drops invalid inbound messages with an event and keeps working', async () => {
    const cluster = new Cluster(['a', 'b'])
    await cluster.start()
    const dropped: unknown[] = []
    cluster.coordinator.on('message-dropped', (event) => dropped.push(event.reason))
    const rogue = cluster.net.connect('rogue')
    const junk = [
      { to: 'coord' },
      // A well-formed vote of protocol version 1: a version this node does not speak.
      { v: 1, type: 'vote', txId: 'x', from: 'a', to: 'coord', vote: 'yes' },
      { v: 3, type: 'vote', txId: 'x', from: 'a', to: 'coord', vote: 'yes', inc: 1 },
      { v: 2, type: 'promise', txId: 'x', from: 'a', to: 'coord' },
      { v: 2, type: 'vote', txId: 'x', from: 'a', to: 'coord', vote: 'maybe', inc: 1 },
      // A version-2 vote without the sender's incarnation.
      { v: 2, type: 'vote', txId: 'x', from: 'a', to: 'coord', vote: 'yes' },
    ]
    for (const message of junk) rogue.send(message as never)
    expect(() => rogue.send(null as never)).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }))
    await expect.poll(() => dropped.length).toBe(6)
    expect(new Set(dropped)).toEqual(new Set(['invalid']))
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome.decision).toBe('commit')
    await cluster.close()
  })

  it('halts the node when the log fails, rejecting pending work with NODE_HALTED, and never retries', async () => {
    const cluster = new Cluster(['a', 'b'])
    await cluster.start()
    const halted: TwopcError[] = []
    cluster.coordinator.on('halted', (error) => halted.push(error))
    cluster.coordinatorLog.failAppends()
    await expect(cluster.coordinator.commit({ participants: { a: 1, b: 2 } })).rejects.toMatchObject({
      code: 'NODE_HALTED',
    })
    expect(halted).toHaveLength(1)
    expect(cluster.coordinator.stats().messagesSent.commit).toBe(0)
    await expect(cluster.coordinator.commit({ participants: { a: 1, b: 2 } })).rejects.toMatchObject({
      code: 'NODE_HALTED',
    })
    await cluster.close()
  })

  it('a custom log whose load() resolves no array fails start() with INVALID_RECORD', async () => {
    const net = new MemoryNetwork()
    const log = { load: async () => null, append: async () => {} } as never
    const coordinator = new Coordinator({ id: 'c', transport: net.connect('c'), log })
    await expect(coordinator.start()).rejects.toMatchObject({
      code: 'INVALID_RECORD',
      message: 'Expected log.load() to resolve to an array of records, got null',
    })
  })

  // Found by review: the halted coordinator answered `committing` for a commit whose record never
  // reached its log (the transaction aborts everywhere after a restart): an operator reading it
  // could resolve the participants by hand the wrong way.
  it('a halted node answers no question about transactions: its memory may not be in its log', async () => {
    const cluster = new Cluster(['a', 'b'])
    await cluster.start()
    cluster.coordinatorLog.failAppends()
    await expect(
      cluster.coordinator.commit({ txId: 't', participants: { a: 1, b: 2 } }),
    ).rejects.toMatchObject({
      code: 'NODE_HALTED',
    })
    const halted = { code: 'NODE_HALTED', message: expect.stringContaining('may not be in its log') }
    expect(() => cluster.coordinator.status('t')).toThrow(expect.objectContaining(halted))
    expect(() => cluster.coordinator.pending()).toThrow(expect.objectContaining(halted))
    await expect(cluster.coordinator.completion('t')).rejects.toMatchObject(halted)
    expect(cluster.coordinator.stats().inFlight).toBe(1) // counters stay readable
    await cluster.close()
    // Closed (as a `halted` handler would), it still answers nothing: its memory is the same.
    expect(() => cluster.coordinator.status('t')).toThrow(expect.objectContaining(halted))
  })

  it('a halted participant does not list what it holds in memory as in doubt', async () => {
    const cluster = new Cluster(['a', 'b'], { coordinator: { prepareTimeoutMs: 100 } })
    await cluster.start()
    cluster.participantLog('b').failAppends()
    await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(() => cluster.participant('b').inDoubt()).toThrow(expect.objectContaining({ code: 'NODE_HALTED' }))
    await cluster.close()
  })

  it('a participant whose log fails halts without voting yes', async () => {
    const cluster = new Cluster(['a', 'b'], { coordinator: { prepareTimeoutMs: 100 } })
    await cluster.start()
    const halted: TwopcError[] = []
    const votes: string[] = []
    let refusals = 0
    cluster.participant('b').on('halted', (error) => halted.push(error))
    cluster.participant('b').on('voted', (event) => votes.push(event.vote))
    cluster.participant('b').on('refused', () => (refusals += 1))
    cluster.participantLog('b').failAppends()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'prepare-timeout' })
    expect(halted.map((e) => e.code)).toEqual(['NODE_HALTED'])
    // Its only vote is its refusal of the first-contact probe (which needs no record); it halted
    // on the prepared record of the real prepare, before any vote.
    expect(votes).toEqual([])
    expect(refusals).toBe(1)
    expect(cluster.participant('b').stats().messagesSent.vote).toBe(1)
    await cluster.close()
  })

  it('a participant votes no on prepares beyond its maxInFlightTransactions', async () => {
    const net = new MemoryNetwork()
    const coordinator = new Coordinator({ id: 'c', transport: net.connect('c'), log: new MemoryLog() })
    const busy = new Participant({
      id: 'p',
      transport: net.connect('p'),
      log: new MemoryLog(),
      maxInFlightTransactions: 1,
      resource: { ...noopResource, prepare: () => new Promise(() => {}) },
    })
    const other = new Participant({
      id: 'q',
      transport: net.connect('q'),
      log: new MemoryLog(),
      resource: noopResource,
    })
    await Promise.all([coordinator.start(), busy.start(), other.start()])
    void coordinator.commit({ participants: { p: 1, q: 1 } }).catch(() => {})
    const second = await coordinator.commit({ participants: { p: 2, q: 2 } })
    expect(second).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    await Promise.all([coordinator.close(), busy.close(), other.close()])
  })
})
