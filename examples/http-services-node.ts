/**
 * One service of `examples/http-services.ts`, run as its own OS process (the example forks it with
 * `node --import tsx`). It serves twopc over HTTP on 127.0.0.1, keeps its log in a FileLog, and
 * talks to its parent over IPC:
 *
 * - it reports `{ type: 'listening', url }`, waits for `{ type: 'peers', peers }` (every service's
 *   URL), starts its node and reports `{ type: 'ready' }`;
 * - the coordinator runs each `{ type: 'transfer', txId, from, to, amount }` and reports
 *   `{ type: 'outcome', txId, decision }`;
 * - every node answers `{ type: 'status' }` with its in-flight and in-doubt counts and stops on `{ type: 'stop' }`.
 *
 * Participants are bank ledgers: `prepare` votes yes if the account could pay, `commit` and `abort`
 * append the outcome to `<dir>/<id>.ledger` (synchronously: it is the bank's "database", and must
 * survive SIGKILL as a real one would).
 */
import { createHmac } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { Coordinator, Participant, type Resource } from '../src/index.js'
import { FileLog, HttpTransport } from '../src/node.js'

/** What the parent passes as the first argument. */
export interface ServiceConfig {
  readonly role: 'coordinator' | 'participant'
  readonly id: string
  readonly dir: string
  /** Listening port: 0 on first start (the OS picks), the previous one on a restart. */
  readonly port: number
  /** Every service's id: each pair of services gets its own key, derived from the master secret. */
  readonly services: readonly string[]
}

/** The key two services share: a real deployment would provision these; the example derives them. */
function pairKey(master: string, a: string, b: string): string {
  return createHmac('sha256', master).update([a, b].sort().join('\u0000')).digest('hex')
}

function tell(message: object): void {
  process.send?.(message)
}

const config = JSON.parse(process.argv[2] ?? '{}') as ServiceConfig
const master = process.env.TWOPC_EXAMPLE_SECRET ?? ''
const peers = config.services.filter((id) => id !== config.id)
const transport = new HttpTransport({
  id: config.id,
  secrets: Object.fromEntries(peers.map((peer) => [peer, pairKey(master, config.id, peer)])),
  retryDelayMs: 50,
  retryDelayMsMax: 500,
})
// What an operator would alert on: the transport's view of each peer (also in transport.stats().peers).
transport.on('peer-unreachable', ({ peer, error }) =>
  console.log(`    ${config.id}: ${peer} unreachable (${error})`),
)
transport.on('peer-reachable', ({ peer, failures }) =>
  console.log(`    ${config.id}: ${peer} reachable again after ${failures} failed attempts`),
)
transport.on('authentication-refused', ({ peer, reason }) =>
  console.error(`    ${config.id}: ${peer} refused our authentication (${reason}): check the secrets`),
)
const log = new FileLog({ path: join(config.dir, `${config.id}.log`) })
const ledger = join(config.dir, `${config.id}.ledger`)
const bank: Resource = {
  prepare: (tx) => (Math.abs((tx.payload as { delta: number }).delta) <= 500 ? 'yes' : 'no'),
  commit: (tx) => appendFileSync(ledger, `commit ${tx.txId}\n`),
  abort: (tx) => appendFileSync(ledger, `abort ${tx.txId}\n`),
}
const timings = { retransmitIntervalMs: 50, retransmitIntervalMsMax: 500 } as const
const node =
  config.role === 'coordinator'
    ? new Coordinator({ id: config.id, transport, log, prepareTimeoutMs: 1500, ...timings })
    : new Participant({ id: config.id, transport, log, resource: bank, ...timings })

process.on('message', (message: { type: string; [field: string]: unknown }) => {
  switch (message.type) {
    case 'peers':
      for (const [id, url] of Object.entries(message.peers as Record<string, string>)) {
        if (id !== config.id) transport.setPeer(id, url)
      }
      node.start().then(() => tell({ type: 'ready' }))
      break
    case 'transfer': {
      if (!(node instanceof Coordinator)) break
      const { txId, from, to, amount } = message as unknown as {
        txId: string
        from: string
        to: string
        amount: number
      }
      const participants = { [from]: { delta: -amount }, [to]: { delta: amount }, audit: { delta: 0 } }
      node.commit({ txId, participants }).then((outcome) => tell({ type: 'outcome', ...outcome }))
      break
    }
    case 'status': {
      const stats = node.stats()
      tell({ type: 'status', inFlight: stats.inFlight, inDoubt: stats.inDoubt })
      break
    }
    case 'stop':
      node.close().then(() => process.disconnect())
      break
  }
})
tell({ type: 'listening', url: await transport.listen(`127.0.0.1:${config.port}`) })
