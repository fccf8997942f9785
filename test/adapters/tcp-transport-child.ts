/**
 * One node of the multi-process test (`tcp-transport-processes.test.ts`), run as its own OS process:
 * `node --import tsx tcp-transport-child.ts '<json config>'` with an IPC channel to the test.
 *
 * It listens on TCP (the port it is given, or one the OS picks), reports its address, waits for the
 * peers' addresses, starts a Coordinator or a Participant on a FileLog in `dir`, and reports
 * `ready`. A participant's resource appends every call to `<dir>/<id>.resource` synchronously, so
 * what it applied survives SIGKILL. A coordinator runs the `commit` commands it is sent and reports
 * each outcome. Both answer `status` and stop cleanly on `stop`.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { FileLog } from '../../src/adapters/file-log.js'
import { TcpTransport } from '../../src/adapters/tcp-transport.js'
import type { Json } from '../../src/core/types.js'
import { Coordinator } from '../../src/runtime/coordinator.js'
import type { Resource } from '../../src/runtime/interfaces.js'
import { Participant } from '../../src/runtime/participant.js'

/** What the test passes as the first argument. */
export interface ChildConfig {
  readonly role: 'coordinator' | 'participant'
  readonly id: string
  readonly dir: string
  readonly secret: string
  /** The port to listen on; 0 lets the OS pick (first start), the previous one on a restart. */
  readonly port: number
}

/** Messages the test sends. */
export type ToChild =
  | { readonly type: 'peers'; readonly peers: Readonly<Record<string, string>> }
  | { readonly type: 'commit'; readonly txId: string; readonly participants: Readonly<Record<string, Json>> }
  | { readonly type: 'status' }
  | { readonly type: 'stop' }

/** Messages the child sends back. */
export type FromChild =
  | { readonly type: 'listening'; readonly address: string }
  | { readonly type: 'ready' }
  | { readonly type: 'outcome'; readonly txId: string; readonly decision: string }
  | { readonly type: 'status'; readonly inFlight: number; readonly inDoubt: number }

const TIMINGS = { retransmitIntervalMs: 20, retransmitIntervalMsMax: 200 } as const

function tell(message: FromChild): void {
  process.send?.(message)
}

function next<T extends ToChild['type']>(type: T): Promise<Extract<ToChild, { type: T }>> {
  return new Promise((resolve) => {
    const listener = (message: ToChild) => {
      if (message.type !== type) return
      process.off('message', listener)
      resolve(message as Extract<ToChild, { type: T }>)
    }
    process.on('message', listener)
  })
}

/** Votes yes and records every call, one line each, durably enough for SIGKILL. */
function fileResource(path: string): Resource {
  const record = (operation: string, txId: string) => appendFileSync(path, `${operation} ${txId}\n`)
  return {
    prepare: (tx) => {
      record('prepare', tx.txId)
      return 'yes'
    },
    commit: (tx) => record('commit', tx.txId),
    abort: (tx) => record('abort', tx.txId),
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig
const transport = await TcpTransport.listen({
  id: config.id,
  listen: `127.0.0.1:${config.port}`,
  secret: config.secret,
  retryDelayMs: 20,
  retryDelayMsMax: 200,
})
const peersMessage = next('peers')
tell({ type: 'listening', address: transport.address })
for (const [id, address] of Object.entries((await peersMessage).peers)) {
  if (id !== config.id) transport.setPeer(id, address)
}
const log = new FileLog({ path: join(config.dir, `${config.id}.log`) })
const node =
  config.role === 'coordinator'
    ? new Coordinator({ id: config.id, transport, log, prepareTimeoutMs: 1000, ...TIMINGS })
    : new Participant({
        id: config.id,
        transport,
        log,
        resource: fileResource(join(config.dir, `${config.id}.resource`)),
        cooperativeTerminationAfterMs: 300,
        ...TIMINGS,
      })
process.on('message', (message: ToChild) => {
  if (message.type === 'commit' && node instanceof Coordinator) {
    node.commit({ txId: message.txId, participants: message.participants }).then(
      (outcome) => tell({ type: 'outcome', txId: outcome.txId, decision: outcome.decision }),
      (error: Error) => tell({ type: 'outcome', txId: message.txId, decision: `error: ${error.message}` }),
    )
  } else if (message.type === 'status') {
    const stats = node.stats()
    tell({ type: 'status', inFlight: stats.inFlight, inDoubt: stats.inDoubt })
  } else if (message.type === 'stop') {
    node.close().then(() => process.disconnect())
  }
})
await node.start()
tell({ type: 'ready' })
