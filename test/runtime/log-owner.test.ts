import { readFile, stat } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { Coordinator, MemoryNetwork, Participant, type Transport } from '../../src/index.js'
import { fileLog, tempLogPath } from '../adapters/temp-log.js'

const noopResource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }

/** A transport on `net` that counts its `close()` calls. */
function countingTransport(net: MemoryNetwork, id: string): Transport & { closed: number } {
  const inner = net.connect(id)
  const transport = {
    closed: 0,
    send: inner.send.bind(inner),
    onMessage: inner.onMessage.bind(inner),
    close: () => {
      transport.closed += 1
      return inner.close?.()
    },
  }
  return transport
}

/** Starts participant `id` on the FileLog at `path` once, then closes it: the log is now its. */
async function logOwnedBy(path: string, id: string): Promise<Buffer> {
  const participant = new Participant({
    id,
    log: fileLog({ path }),
    transport: new MemoryNetwork().connect(id),
    resource: noopResource,
  })
  await participant.start()
  await participant.close()
  return readFile(path)
}

describe('a log remembers its owner (node id and role)', () => {
  it('a coordinator started on a participant’s FileLog rejects with LOG_OWNER_MISMATCH, stays closed and lets go of the log', async () => {
    const path = await tempLogPath()
    const bytes = await logOwnedBy(path, 'bank-a')
    const transport = countingTransport(new MemoryNetwork(), 'coord')
    const coordinator = new Coordinator({ id: 'coord', log: fileLog({ path }), transport })
    const error = await coordinator.start().catch((reason: unknown) => reason)
    expect(error).toMatchObject({
      name: 'TwopcError',
      code: 'LOG_OWNER_MISMATCH',
      message: 'Log belongs to participant bank-a; this node is coordinator coord: check the log path',
    })
    // Closed, not half-started: it takes no transaction and cannot be started again.
    await expect(coordinator.commit({ participants: { 'bank-a': 1 } })).rejects.toMatchObject({
      code: 'CLOSED',
    })
    await expect(coordinator.start()).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    expect(coordinator.stats().forcedAppends).toBe(0)
    // It released what it held: the transport once, and the log's lock (the owner can start again).
    expect(transport.closed).toBe(1)
    await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readFile(path)).toEqual(bytes)
    await coordinator.close()
    expect(transport.closed).toBe(1)
    await logOwnedBy(path, 'bank-a')
  })

  it('another participant started on the log rejects with LOG_OWNER_MISMATCH and writes nothing', async () => {
    const path = await tempLogPath()
    const bytes = await logOwnedBy(path, 'bank-a')
    const other = new Participant({
      id: 'bank-b',
      log: fileLog({ path }),
      transport: new MemoryNetwork().connect('bank-b'),
      resource: noopResource,
    })
    await expect(other.start()).rejects.toMatchObject({
      code: 'LOG_OWNER_MISMATCH',
      message: 'Log belongs to participant bank-a; this node is participant bank-b: check the log path',
    })
    await expect(other.resolveManually('t', 'abort', { reason: 'test' })).rejects.toMatchObject({
      code: 'CLOSED',
    })
    expect(await readFile(path)).toEqual(bytes)
    await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('the owner restarts on its own log as often as it likes', async () => {
    const path = await tempLogPath()
    await logOwnedBy(path, 'bank-a')
    await logOwnedBy(path, 'bank-a')
    const bytes = await logOwnedBy(path, 'bank-a')
    expect(bytes.toString('utf8')).toContain('"node":"bank-a","role":"participant"')
  })
})
