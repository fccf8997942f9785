/**
 * Issue 14, "copy never — but once": `commit()` takes one deep-frozen copy of each payload at the
 * call. The caller changing its objects afterwards changes nothing prepared, and the resource gets
 * the payload frozen (it cannot change what a retransmission or a peer would see).
 */
import { afterEach, expect, it } from 'vitest'
import { Coordinator, type Json, MemoryLog, MemoryNetwork, Participant } from '../../src/index.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

it('the caller mutating its payload after commit() changes nothing the participants prepare', async () => {
  const net = new MemoryNetwork()
  const prepared: Json[] = []
  let frozen = true
  const resource = {
    prepare: (tx: { payload: Json }) => {
      prepared.push(tx.payload)
      frozen &&= Object.isFrozen(tx.payload) && Object.isFrozen((tx.payload as { items: Json[] }).items)
      return 'yes' as const
    },
    commit: () => {},
    abort: () => {},
  }
  const coordinator = new Coordinator({ id: 'coord', transport: net.connect('coord'), log: new MemoryLog() })
  const participants = ['a', 'b'].map(
    (id) => new Participant({ id, transport: net.connect(id), log: new MemoryLog(), resource }),
  )
  open.push(coordinator, ...participants)
  await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
  const payload = { amount: 100, items: ['x'] }
  const outcome = coordinator.commit({ participants: { a: payload, b: payload } })
  payload.amount = 999_999
  payload.items.push('injected')
  expect((await outcome).decision).toBe('commit')
  expect(prepared).toEqual([
    { amount: 100, items: ['x'] },
    { amount: 100, items: ['x'] },
  ])
  expect(frozen).toBe(true)
})
