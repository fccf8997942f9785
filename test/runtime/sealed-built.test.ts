/**
 * The runtime seals what the cores build (`sealBuilt`): records handed to a log are frozen and
 * pass `parseRecord` as they are (MemoryLog and FileLog neither validate nor copy them again);
 * messages are sealed only for MemoryNetwork (`SEALED_DELIVERY`) — a custom transport gets them as
 * the core built them. What holds a payload the runtime does not own (one a custom transport
 * decoded) is not sealed, so it is still validated and copied where it lands.
 */
import { afterEach, expect, it, vi } from 'vitest'
import { SEALED_DELIVERY } from '../../src/core/validate.js'
import {
  Coordinator,
  type DurableLog,
  type LogRecord,
  MemoryLog,
  MemoryNetwork,
  type Message,
  Participant,
  parseMessage,
  parseRecord,
  type Transport,
} from '../../src/index.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

/** A MemoryLog that keeps every record it is handed. */
function keeping(appended: LogRecord[]): DurableLog {
  const log = new MemoryLog()
  return {
    load: () => log.load(),
    append: (records) => {
      appended.push(...records)
      return log.append(records)
    },
  }
}

/** A transport over `net` that keeps what it is handed and delivers a JSON copy of each message (as a wire would). */
function copying(net: MemoryNetwork, id: string, sent: Message[]): Transport {
  const inner = net.connect(id)
  return {
    send: (message) => {
      sent.push(message)
      return inner.send(JSON.parse(JSON.stringify(message)))
    },
    onMessage: (handler) => inner.onMessage((message) => handler(JSON.parse(JSON.stringify(message)))),
    close: () => inner.close?.(),
  }
}

it('seals records for the log and messages for MemoryNetwork only; a payload it does not own stays unsealed', async () => {
  const net = new MemoryNetwork()
  const coordinatorRecords: LogRecord[] = []
  const participantRecords: LogRecord[] = []
  const coordinatorSent: Message[] = []
  const coordinator = new Coordinator({
    id: 'coord',
    transport: copying(net, 'coord', coordinatorSent),
    log: keeping(coordinatorRecords),
  })
  const resource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }
  const plain = new Participant({
    id: 'a',
    transport: copying(net, 'a', []),
    log: keeping(participantRecords),
    resource,
  })
  const b = new Participant({ id: 'b', transport: net.connect('b'), log: new MemoryLog(), resource })
  open.push(coordinator, plain, b)
  await Promise.all([coordinator.start(), plain.start(), b.start()])
  const outcome = await coordinator.commit({ participants: { a: { amount: 1 }, b: { amount: 2 } } })
  expect(outcome.decision).toBe('commit')
  await coordinator.completion(outcome.txId)

  // The coordinator's records: frozen, and parseRecord gives each back as it is.
  const commit = coordinatorRecords.find((record) => record.type === 'commit')
  expect(commit && Object.isFrozen(commit) && Object.isFrozen(commit.participants)).toBe(true)
  expect(commit && parseRecord(commit)).toBe(commit)
  // A custom transport gets the core's messages unsealed: not frozen, and parseMessage rebuilds them.
  expect(coordinatorSent.length).toBeGreaterThan(0)
  for (const message of coordinatorSent) {
    expect(Object.isFrozen(message)).toBe(false)
    expect(parseMessage(message)).not.toBe(message)
  }
  // Participant a got its prepare through a JSON copy: the payload is not the runtime's, so its
  // `prepared` record is not sealed, and a log still validates and copies it.
  const prepared = participantRecords.find((record) => record.type === 'prepared')
  expect(prepared).toBeDefined()
  expect(Object.isFrozen(prepared)).toBe(false)
  expect(parseRecord(prepared)).not.toBe(prepared)
  // Its other records hold no payload: sealed.
  const outcomeRecord = participantRecords.find((record) => record.type === 'outcome')
  expect(outcomeRecord && parseRecord(outcomeRecord)).toBe(outcomeRecord)
})

it('a participant on MemoryNetwork sends sealed messages: the receiver gets the same frozen object, valid as it is', async () => {
  const net = new MemoryNetwork()
  const received: unknown[] = []
  const coordinatorEnd = net.connect('coord')
  coordinatorEnd.onMessage((message) => received.push(message))
  const participant = new Participant({
    id: 'a',
    transport: net.connect('a'),
    log: new MemoryLog(),
    resource: { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} },
  })
  open.push(participant)
  await participant.start()
  coordinatorEnd.send({
    v: 2,
    type: 'prepare',
    txId: 't1',
    from: 'coord',
    to: 'a',
    payload: { amount: 1 },
    participants: ['a', 'b'],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  })
  await vi.waitFor(() => expect(received.some((message) => (message as Message).type === 'vote')).toBe(true))
  const vote = received.find((message) => (message as Message).type === 'vote') as Message
  expect(Object.isFrozen(vote)).toBe(true)
  expect(parseMessage(vote)).toBe(vote)
})

it('a prepared record whose participant list a resource changed is validated, not sealed: no vote, the node halts, and restarts (review finding)', async () => {
  // Over a custom transport the list is the runtime's own copy, handed to the resource as
  // `tx.participants`. A resource that pushes a duplicate into it made the record invalid; sealed
  // unchecked, it went to the log and the vote left — and the log could never be loaded again.
  let deliver: (message: unknown) => void = () => {}
  const sent: Message[] = []
  const transport: Transport = {
    send: (message) => {
      sent.push(message)
    },
    onMessage: (handler) => {
      deliver = handler
    },
  }
  const log = new MemoryLog()
  const resource = {
    prepare: (tx: { participants: readonly string[] }) => {
      ;(tx.participants as string[]).push('a')
      return 'yes' as const
    },
    commit: () => {},
    abort: () => {},
  }
  const participant = new Participant({ id: 'a', transport, log, resource })
  let halted: unknown
  participant.once('halted', (error) => {
    halted = error
  })
  await participant.start()
  deliver({
    v: 2,
    type: 'prepare',
    txId: 't1',
    from: 'coord',
    to: 'a',
    payload: 'work', // a primitive: deep-frozen by nature, so only the list could have let it through
    participants: ['a', 'b'],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  })
  await vi.waitFor(() => expect(halted ?? sent.find((message) => message.type === 'vote')).toBeDefined())
  expect(halted).toMatchObject({ code: 'NODE_HALTED' })
  expect(sent.filter((message) => message.type === 'vote')).toEqual([])
  await participant.close()
  const restarted = new Participant({
    id: 'a',
    transport: { send: () => {}, onMessage: () => {} },
    log,
    resource,
  })
  await restarted.start()
  await restarted.close()
})

it('a transport spread from a MemoryNetwork endpoint is a transport of its own: it gets unsealed messages', () => {
  const net = new MemoryNetwork()
  expect(SEALED_DELIVERY in net.connect('a')).toBe(true)
  expect(SEALED_DELIVERY in { ...net.connect('b') }).toBe(false)
})
