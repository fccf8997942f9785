/**
 * The service whose log test/cli/inspect-live.test.ts inspects, run as its own OS process:
 * `node --import tsx inspect-child.ts <log path>`. Participant `bank-a` on a real FileLog (which
 * holds the log's lock while it runs), talking to the parent's coordinator over IPC.
 */
import { Participant } from '../../src/index.js'
import { FileLog } from '../../src/node.js'
import { ipcTransport } from '../support/ipc-transport.js'

const [path] = process.argv.slice(2) as [string]
const parent = ipcTransport()
const participant = new Participant({
  id: 'bank-a',
  transport: parent.transport,
  log: new FileLog({ path }),
  resource: { prepare: () => 'yes', commit: () => {}, abort: () => {} },
  retransmitIntervalMs: 50,
})
parent.on('status', () =>
  parent.report({ kind: 'status', inDoubt: participant.inDoubt().map((entry) => entry.txId) }),
)
await participant.start()
parent.report({ kind: 'started' })
