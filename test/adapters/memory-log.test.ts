import { describe, expect, it } from 'vitest'
import { MemoryLog } from '../../src/index.js'

describe('MemoryLog', () => {
  it('keeps memory bounded under steady load: forgotten transactions are dropped, not just hidden', async () => {
    const log = new MemoryLog()
    for (let i = 0; i < 5000; i++) {
      const txId = `t${i}`
      await log.append([
        { type: 'prepared', txId, coordinator: 'c', participants: ['p'], payload: i, onePhase: false },
        { type: 'outcome', txId, decision: 'commit' },
      ])
      await log.append([{ type: 'end', txId }])
      log.forget([txId])
    }
    await log.append([{ type: 'end', txId: 'last' }])
    expect(log.records).toEqual([{ type: 'end', txId: 'last' }])
    // What it holds internally, live or dead, stays within twice the live records (amortized compaction).
    const held = (log as unknown as { durable: unknown[] }).durable.length
    expect(held).toBeLessThanOrEqual(2)
  })

  it('forgets only the records appended before forget, like a file log', async () => {
    const log = new MemoryLog()
    await log.append([{ type: 'outcome', txId: 't', decision: 'abort' }])
    log.forget(['t'])
    await log.append([{ type: 'outcome', txId: 't', decision: 'commit' }])
    expect(log.records).toEqual([{ type: 'outcome', txId: 't', decision: 'commit' }])
    expect(await log.load()).toEqual([{ type: 'outcome', txId: 't', decision: 'commit' }])
  })

  it('stores a copy: the caller changing its record or payload after append changes nothing stored', async () => {
    const log = new MemoryLog()
    const payload = { amount: 1, items: ['a'] }
    const record = {
      type: 'prepared',
      txId: 't',
      coordinator: 'c',
      participants: ['p'],
      payload,
      onePhase: false,
    }
    const participants = record.participants
    await log.append([record as never])
    payload.amount = 2
    payload.items.push('b')
    participants.push('q')
    expect(await log.load()).toEqual([
      { ...record, participants: ['p'], payload: { amount: 1, items: ['a'] } },
    ])
  })
})
