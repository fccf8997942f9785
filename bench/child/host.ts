/**
 * The participants' host: the second process of the network cells. It runs one service at a time,
 * as the parent (bench/child/client.ts) commands over IPC, and exits when the parent disconnects.
 */

import { startNoContentServer } from '../baselines/http-rate.js'
import { startNaiveTcpParticipants } from '../baselines/naive-tcp-participants.js'
import { startEchoServer } from '../baselines/tcp-ping-pong.js'
import { listenOn, type NetworkEndpoint } from '../library/network.js'
import { startParticipants } from '../library/nodes.js'
import { UsageMeter } from '../measure.js'
import type { SystemCounters } from '../system.js'
import { COORDINATOR_ID, participantIds } from '../workloads.js'
import type { HostAnswers, HostCommand, HostReply, HostRequest } from './protocol.js'

interface Service {
  counters?(): SystemCounters
  close(): Promise<void>
}

let service: Service | undefined
let meter: UsageMeter | undefined

async function libraryParticipants(
  command: Extract<HostCommand, { type: 'library-participants' }>,
): Promise<HostAnswers['library-participants']> {
  const endpoints = new Map<string, NetworkEndpoint>()
  for (const id of participantIds(command.n)) {
    const endpoint = await listenOn(command.transport, id)
    endpoint.setPeer(COORDINATOR_ID, command.coordinator)
    endpoints.set(id, endpoint)
  }
  const group = await startParticipants([...endpoints.keys()], {
    log: command.log,
    directory: command.directory,
    transport: (id) => (endpoints.get(id) as NetworkEndpoint).transport,
  })
  service = { counters: () => ({ ...group.totals(), bytes: undefined }), close: () => group.close() }
  return { addresses: Object.fromEntries([...endpoints].map(([id, endpoint]) => [id, endpoint.address])) }
}

async function run(command: HostCommand): Promise<unknown> {
  switch (command.type) {
    case 'library-participants':
      return libraryParticipants(command)
    case 'naive-tcp-participants': {
      const participants = await startNaiveTcpParticipants(command.n)
      service = participants
      return { ports: participants.ports }
    }
    case 'echo-server':
    case 'http-server': {
      const server = await (command.type === 'echo-server' ? startEchoServer() : startNoContentServer())
      service = server
      return { port: server.port }
    }
    case 'counters':
      if (service?.counters === undefined) throw new Error('no running service has counters')
      return service.counters()
    case 'usage-start':
      meter = new UsageMeter()
      return null
    case 'usage-stop': {
      const usage = meter?.stop()
      meter = undefined
      if (usage === undefined) throw new Error('usage-stop without usage-start')
      return usage
    }
    case 'stop':
      await service?.close()
      service = undefined
      return null
  }
}

process.on('message', (request: HostRequest) => {
  run(request.command).then(
    (result) => process.send?.({ id: request.id, ok: true, result } satisfies HostReply),
    (error: unknown) =>
      process.send?.({
        id: request.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies HostReply),
  )
})

process.on('disconnect', () => {
  void (service?.close() ?? Promise.resolve()).finally(() => process.exit(0))
})
