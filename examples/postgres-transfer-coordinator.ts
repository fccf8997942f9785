/**
 * The coordinator of examples/postgres-transfer.ts, in its own process so that the example can
 * kill it with SIGKILL: `node --import tsx postgres-transfer-coordinator.ts <log file>`.
 * It talks to the parent over IPC: the parent routes protocol messages to and from the banks and
 * asks for transfers (`{ kind: 'transfer', request }`); the coordinator answers with the outcome.
 */
import { type CommitRequest, Coordinator, type Transport } from '../src/index.js'
import { FileLog } from '../src/node.js'

const [logPath] = process.argv.slice(2) as [string]
const send = (value: unknown) => process.send?.(value)

let deliver: ((message: unknown) => void) | undefined
const transport: Transport = {
  send: (message) => void send({ kind: 'message', message }),
  onMessage: (handler) => {
    deliver = handler
  },
}
const coordinator = new Coordinator({
  id: 'coordinator',
  transport,
  log: new FileLog({ path: logPath }),
  retransmitIntervalMs: 50,
  retransmitIntervalMsMax: 500,
})

process.on('message', (value: { kind: string; message?: unknown; request?: CommitRequest }) => {
  if (value.kind === 'message') deliver?.(value.message)
  else if (value.kind === 'transfer' && value.request !== undefined) {
    coordinator.commit(value.request).then((outcome) => send({ kind: 'outcome', outcome }))
  } else if (value.kind === 'exit') {
    coordinator.close().then(() => process.exit(0))
  }
})

// Recovery happens here: a commit record without an end is sent again until every bank acks.
await coordinator.start()
send({ kind: 'started' })
