/**
 * One replica as its own OS process: `node --import tsx replica-process.ts '<json config>'`, forked
 * by `ProcessReplica` with an IPC channel. 2PC traffic goes over TCP on 127.0.0.1; the IPC channel
 * carries what is not 2PC: the peers' addresses, reads, status, snapshots.
 *
 * On start it listens on a port the OS picks, reports it, waits for the peers' addresses, opens its
 * store (`<dir>/store.json`) and its FileLog (`<dir>/twopc.log`), and reports `ready`. Killed with
 * SIGKILL and started again on the same dir, it recovers both.
 */
import { join } from 'node:path'
import { FileLog, TcpTransport } from '../../src/node.js'
import { startReplica } from './replica.js'
import { FileStateStorage, type StateStorage } from './store.js'

/** What the parent passes as the first argument. */
export interface ReplicaProcessConfig {
  readonly id: string
  /** This replica's own directory (store and log). */
  readonly dir: string
  /** Shared secret that authenticates every TCP frame between the nodes. */
  readonly secret: string
  /** The participant's timings. */
  readonly timings: {
    readonly retransmitIntervalMs: number
    readonly retransmitIntervalMsMax: number
    readonly cooperativeTerminationAfterMs: number
  }
}

/** Requests the parent sends; each request with an `id` gets one {@link FromReplica} `response`. */
export type ToReplica =
  | { readonly type: 'peers'; readonly peers: Readonly<Record<string, string>> }
  | {
      readonly type: 'request'
      readonly id: number
      readonly method: 'get' | 'status' | 'snapshot' | 'install' | 'stats'
      readonly argument?: unknown
    }
  | { readonly type: 'stop' }

/** What the replica reports. */
export type FromReplica =
  | { readonly type: 'listening'; readonly address: string }
  | { readonly type: 'ready' }
  | { readonly type: 'response'; readonly id: number; readonly ok: boolean; readonly value?: unknown }

const tell = (message: FromReplica) => process.send?.(message)
const config = JSON.parse(process.argv[2] ?? '{}') as ReplicaProcessConfig
// The parent is gone (it stopped us, or died): nothing can reach this replica any more.
process.on('disconnect', () => process.exit(0))

const file = new FileStateStorage(join(config.dir, 'store.json'))
/** A failed save may have left either state on disk: stop, and let a restart load what is really there. */
const storage: StateStorage = {
  load: () => file.load(),
  save: (state) =>
    file.save(state).catch((error: unknown) => {
      console.error(`${config.id}: saving the store failed, exiting:`, error)
      process.exit(1)
    }),
}

const transport = await TcpTransport.listen({
  id: config.id,
  listen: '127.0.0.1:0',
  secret: config.secret,
  retryDelayMs: 20,
  retryDelayMsMax: 200,
})
const setPeers = (peers: Readonly<Record<string, string>>) => {
  for (const [id, address] of Object.entries(peers)) if (id !== config.id) transport.setPeer(id, address)
}
const peers = new Promise<void>((resolve) =>
  process.on('message', (message: ToReplica) => {
    if (message.type === 'peers') {
      setPeers(message.peers)
      resolve()
    }
  }),
)
tell({ type: 'listening', address: transport.address })
await peers

const { store, participant } = await startReplica({
  id: config.id,
  transport,
  log: new FileLog({ path: join(config.dir, 'twopc.log') }),
  storage,
  ...config.timings,
})

const methods = {
  get: (key: unknown) => store.get(key as string),
  status: () => store.status(),
  snapshot: () => store.snapshot(),
  install: (snapshot: unknown) => store.install(snapshot as Parameters<typeof store.install>[0]),
  stats: async () => ({ node: participant.stats(), storeSaves: file.saves }),
}
process.on('message', (message: ToReplica) => {
  if (message.type === 'request') {
    methods[message.method](message.argument).then(
      (value) => tell({ type: 'response', id: message.id, ok: true, value }),
      (error: Error) => tell({ type: 'response', id: message.id, ok: false, value: error.message }),
    )
  } else if (message.type === 'stop') {
    participant.close().then(() => process.disconnect())
  }
})
tell({ type: 'ready' })
