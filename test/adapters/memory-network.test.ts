import { afterEach, describe, expect, test, vi } from 'vitest'
import { MemoryNetwork } from '../../src/adapters/memory-network.js'
import { type Message, type PrepareMessage, parseMessage } from '../../src/core/messages.js'
import { frozenPayloads } from '../../src/core/payload.js'
import type { Transport } from '../../src/runtime/interfaces.js'

function prepare(txId: string, payload: unknown): PrepareMessage {
  return {
    v: 2,
    txId,
    from: 'coord',
    to: 'bank',
    type: 'prepare',
    payload: payload as PrepareMessage['payload'],
    participants: ['bank', 'other'],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  }
}

function vote(txId: string, from: string): Message {
  return { v: 2, txId, from, to: 'coord', type: 'vote', vote: 'yes', inc: 1 }
}

/** Resolves after the macrotask that delivers what was sent in this turn (and the microtasks after it). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Connects `ids`; `received(id)` lists what `id` received, in order. */
function listen(net: MemoryNetwork, ids: readonly string[]) {
  const inboxes = new Map<string, unknown[]>()
  const transports = new Map<string, Transport>()
  for (const id of ids) {
    const inbox: unknown[] = []
    const transport = net.connect(id)
    transport.onMessage((message) => inbox.push(message))
    inboxes.set(id, inbox)
    transports.set(id, transport)
  }
  return {
    transport: (id: string) => transports.get(id) as Transport,
    received: (id: string) => inboxes.get(id) as unknown[],
  }
}

describe('MemoryNetwork hands over frozen, validated messages', () => {
  test('a sender changing its message or its payload after send changes nothing the receiver gets', async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'bank'])
    const item = { price: 5 }
    const payload = { items: [item] }
    const message = prepare('t1', payload)
    transport('coord').send(message)
    item.price = 500
    payload.items.push({ price: 1 })
    ;(message.participants as string[]).push('intruder')
    ;(message as { txId: string }).txId = 't2'
    await nextTurn()
    const delivered = received('bank')[0] as PrepareMessage
    expect(delivered).toEqual(prepare('t1', { items: [{ price: 5 }] }))
    expect(delivered.payload).not.toBe(payload)
    expect(Object.isFrozen(delivered)).toBe(true)
    expect(Object.isFrozen(delivered.participants)).toBe(true)
    expect(() => (delivered.payload as { items: unknown[] }).items.push({})).toThrow(TypeError)
  })

  test("the receiver's parseMessage returns the delivered message itself: it was validated when sent", async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'bank'])
    transport('coord').send(prepare('t1', { debit: 100 }))
    transport('bank').send(vote('t1', 'bank'))
    await nextTurn()
    for (const delivered of [...received('bank'), ...received('coord')]) {
      expect(parseMessage(delivered)).toBe(delivered)
    }
  })

  test('a payload Coordinator.commit() froze is handed over as it is, not copied', async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'bank'])
    const payload = frozenPayloads({ bank: { debit: 100 } }, { txId: 't1', coordinator: 'coord' }).get('bank')
    transport('coord').send(prepare('t1', payload))
    await nextTurn()
    expect((received('bank')[0] as PrepareMessage).payload).toBe(payload)
  })

  test('an invalid message is delivered as its JSON copy, for the receiver to refuse', async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['rogue', 'coord'])
    const junk = { to: 'coord', type: 'vote', nested: { dropped: undefined, kept: [1] } }
    transport('rogue').send(junk as never)
    await nextTurn()
    const [delivered] = received('coord')
    expect(delivered).toEqual({ to: 'coord', type: 'vote', nested: { kept: [1] } })
    expect(delivered).not.toBe(junk)
    expect(() => parseMessage(delivered)).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }))
    expect(() => transport('rogue').send({ to: 'coord', n: 1n } as never)).toThrow(TypeError)
  })

  test('a duplicate is the same frozen message, delivered twice', async () => {
    const net = new MemoryNetwork({ duplicateRate: 1 })
    const { transport, received } = listen(net, ['coord', 'bank'])
    transport('coord').send(prepare('t1', { debit: 100 }))
    await nextTurn()
    const copies = received('bank')
    expect(copies).toHaveLength(2)
    expect(copies[0]).toBe(copies[1])
    expect(net.stats()).toMatchObject({ sent: 1, delivered: 2, duplicated: 1 })
  })
})

describe('MemoryNetwork delivers a turn in one macrotask', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  test('everything sent in one turn arrives in one later macrotask, in send order for each recipient', async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'a', 'b'])
    let deliveredBeforeMicrotasks: number | undefined
    transport('a').onMessage((message) => {
      // Microtasks run only once the macrotask that delivers the whole turn returns.
      if (received('a').length === 0) queueMicrotask(() => (deliveredBeforeMicrotasks = count()))
      received('a').push(message)
    })
    const count = () => received('a').length + received('b').length
    for (let i = 0; i < 5; i++) {
      transport('coord').send({ ...prepare(`t${i}`, i), to: 'a' })
      transport('coord').send({ ...prepare(`t${i}`, i), to: 'b' })
    }
    await Promise.resolve()
    expect(count()).toBe(0)
    await nextTurn()
    expect(deliveredBeforeMicrotasks).toBe(10)
    for (const id of ['a', 'b']) {
      expect((received(id) as PrepareMessage[]).map((message) => message.txId)).toEqual([
        't0',
        't1',
        't2',
        't3',
        't4',
      ])
    }
  })

  test('what a handler sends while a turn is delivered waits for the next macrotask', async () => {
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'bank'])
    transport('bank').onMessage((message) => {
      received('bank').push(message)
      transport('bank').send(vote((message as Message).txId, 'bank'))
      expect(received('coord')).toHaveLength(0)
    })
    transport('coord').send(prepare('t1', 1))
    transport('coord').send(prepare('t2', 2))
    await nextTurn()
    expect(received('bank')).toHaveLength(2)
    expect(received('coord')).toHaveLength(0)
    await nextTurn()
    expect((received('coord') as Message[]).map((message) => message.txId)).toEqual(['t1', 't2'])
  })

  test("a handler's exception is rethrown on its own and the rest of the turn is still delivered", async () => {
    const rethrown: (() => void)[] = []
    vi.stubGlobal('queueMicrotask', (callback: () => void) => rethrown.push(callback))
    const net = new MemoryNetwork()
    const { transport, received } = listen(net, ['coord', 'a', 'b'])
    transport('a').onMessage(() => {
      throw new Error('handler bug')
    })
    transport('coord').send({ ...prepare('t1', 1), to: 'a' })
    transport('coord').send({ ...prepare('t2', 2), to: 'b' })
    await nextTurn()
    vi.unstubAllGlobals()
    expect(received('b')).toHaveLength(1)
    expect(rethrown).toHaveLength(1)
    expect(rethrown[0]).toThrow('handler bug')
  })
})

describe('MemoryNetwork.connect', () => {
  test.each([[''], ['a\n'], [42]])('refuses %j as a node id with INVALID_OPTIONS', (id) => {
    expect(() => new MemoryNetwork().connect(id as string)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('Expected `id`') }),
    )
  })
})
