/**
 * Your own transport (`send`, `onMessage`, optional `close`), here over worker_threads MessageChannels.
 * Run: npx tsx examples/custom-transport.ts. transport-conformance-custom.test.ts runs the suite on it.
 */
import { pathToFileURL } from 'node:url'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import type { Message, NodeId, Transport } from '../src/index.js'
import { Coordinator, MemoryLog, Participant } from '../src/index.js'

/** Routes messages by `to`. Best effort, like any transport: a message to a node not connected is lost. */
export class ChannelHub {
  private readonly ports = new Map<NodeId, MessagePort>()

  /** The transport of node `id`. Connecting `id` again (a restart) replaces the old endpoint. */
  connect(id: NodeId): Transport {
    const { port1: hubSide, port2: nodeSide } = new MessageChannel()
    this.ports.get(id)?.close()
    this.ports.set(id, hubSide)
    hubSide.on('message', (message: Message) => this.ports.get(message.to)?.postMessage(message))
    let handler: ((message: unknown) => void) | undefined
    nodeSide.on('message', (message: unknown) => handler?.(message))
    return {
      send: (message) => nodeSide.postMessage(message),
      onMessage: (newHandler) => {
        handler = newHandler
      },
      close: () => {
        handler = undefined
        nodeSide.close() // closes both sides: the hub's posts to this node now go nowhere
      },
    }
  }
}

/** A coordinator and two participants over the hub. */
async function main(): Promise<void> {
  const hub = new ChannelHub()
  const say = (line: string) => () => console.log(line)
  const resource = (id: string) => ({
    prepare: () => 'yes' as const,
    commit: say(`  ${id}: commit`),
    abort: say(`  ${id}: abort`),
  })
  const coordinator = new Coordinator({ id: 'coord', transport: hub.connect('coord'), log: new MemoryLog() })
  const nodes = ['bank-a', 'bank-b'].map(
    (id) => new Participant({ id, transport: hub.connect(id), log: new MemoryLog(), resource: resource(id) }),
  )
  await Promise.all([coordinator.start(), ...nodes.map((node) => node.start())])
  for (const amount of [100, 250]) {
    const outcome = await coordinator.commit({
      participants: { 'bank-a': { debit: amount }, 'bank-b': { credit: amount } },
    })
    await coordinator.completion(outcome.txId)
    console.log(`transfer of ${amount}: ${outcome.decision}`)
  }
  await Promise.all([coordinator.close(), ...nodes.map((node) => node.close())])
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main()
