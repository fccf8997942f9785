/**
 * twopc demo: a coordinator moves money between two bank accounts and writes an audit entry,
 * atomically. Run with `npm run demo`.
 *
 * 1. a transfer that commits (the first between the coordinator and each participant, so it begins
 *    with a probe: a `prepare` bound to no incarnation, which each participant refuses, telling
 *    its incarnation; the coordinator then sends the prepare again, bound to it);
 * 2. a transfer that aborts because the source account votes no (insufficient funds);
 * 3. a transfer whose commit message to bank-b is lost and bank-b crashes while in doubt:
 *    restarted from its log, it asks the coordinator and finishes the commit.
 *
 * It also writes `trace.md`: each transfer as a Mermaid sequence diagram.
 */
import { writeFileSync } from 'node:fs'
import {
  Coordinator,
  type Json,
  MemoryLog,
  MemoryNetwork,
  type Message,
  Participant,
  type Resource,
  type TransactionInfo,
  type Transport,
} from '../src/index.js'
import { sequenceDiagram, type TraceEntry } from '../src/testing/sequence-diagram.js'

const net = new MemoryNetwork({ seed: 1 })

/** Every message sent and every notable moment, by transaction, for trace.md. */
const trace = new Map<string, TraceEntry[]>()
/** Links the demo cuts, mirrored here so that the trace can draw lost messages. */
const cut = new Set<string>()
const note = (txId: string, node: string, text: string) =>
  trace.set(txId, [...(trace.get(txId) ?? []), { kind: 'note', node, text }])

/** Prints every message a node sends: the rounds of the protocol, as they happen. */
function traced(id: string): Transport {
  const transport = net.connect(id)
  return {
    ...transport,
    send(message: Message) {
      const lost = cut.has(`${message.from}>${message.to}`)
      trace.set(message.txId, [...(trace.get(message.txId) ?? []), { kind: 'message', message, lost }])
      const extra =
        message.type === 'prepare'
          ? `${message.inc === 0 ? '(probe)' : ''} ${JSON.stringify(message.payload)}`
          : message.type === 'vote'
            ? ` ${message.refused === undefined ? message.vote : 'refused'}`
            : ''
      console.log(
        `    ${message.txId}  ${message.from.padEnd(7)} → ${message.to.padEnd(7)} ${message.type}${extra}`,
      )
      return transport.send(message)
    },
  }
}

/** A bank account: prepare reserves the money, commit applies it, abort releases it. Survives restarts (it is the "database"). */
class Account implements Resource {
  private readonly holds = new Map<string, number>()

  constructor(
    readonly name: string,
    public balance: number,
  ) {}

  prepare(tx: TransactionInfo) {
    const delta = (tx.payload as { delta: number }).delta
    const reserved = [...this.holds.values()].filter((d) => d < 0).reduce((a, b) => a + b, 0)
    if (this.balance + reserved + Math.min(delta, 0) < 0) return 'no' as const
    this.holds.set(tx.txId, delta)
    return 'yes' as const
  }

  commit(tx: TransactionInfo) {
    const delta = this.holds.get(tx.txId)
    if (delta === undefined) return // already applied: commit is idempotent
    this.balance += delta
    this.holds.delete(tx.txId)
  }

  abort(tx: TransactionInfo) {
    this.holds.delete(tx.txId)
  }
}

/** An append-only audit ledger. */
class Ledger implements Resource {
  readonly entries: Json[] = []
  private readonly staged = new Map<string, Json>()
  prepare(tx: TransactionInfo) {
    this.staged.set(tx.txId, tx.payload)
    return 'yes' as const
  }
  commit(tx: TransactionInfo) {
    const entry = this.staged.get(tx.txId)
    if (entry === undefined) return
    this.entries.push(entry)
    this.staged.delete(tx.txId)
  }
  abort(tx: TransactionInfo) {
    this.staged.delete(tx.txId)
  }
}

const accounts = { 'bank-a': new Account('bank-a', 500), 'bank-b': new Account('bank-b', 100) }
const ledger = new Ledger()
const logs = {
  coord: new MemoryLog(),
  'bank-a': new MemoryLog(),
  'bank-b': new MemoryLog(),
  audit: new MemoryLog(),
}

const coordinator = new Coordinator({ id: 'coord', transport: traced('coord'), log: logs.coord })
const startParticipant = async (id: 'bank-a' | 'bank-b' | 'audit') => {
  const resource = id === 'audit' ? ledger : accounts[id]
  const participant = new Participant({ id, transport: traced(id), log: logs[id], resource })
  participant.on('in-doubt', (e) =>
    console.log(`    (${id} was in doubt about ${e.txId}: asked ${e.coordinator})`),
  )
  await participant.start()
  return participant
}
const participants = new Map([
  ['bank-a', await startParticipant('bank-a')],
  ['bank-b', await startParticipant('bank-b')],
  ['audit', await startParticipant('audit')],
])
await coordinator.start()

const transfer = (txId: string, from: 'bank-a' | 'bank-b', to: 'bank-a' | 'bank-b', amount: number) =>
  coordinator.commit({
    txId,
    participants: {
      [from]: { delta: -amount },
      [to]: { delta: amount },
      audit: { from, to, amount },
    },
  })

/** Waits until no participant has work in flight, so that each step's trace is complete. */
const settled = async () => {
  while ([...participants.values()].some((p) => p.stats().inFlight > 0))
    await new Promise((r) => setTimeout(r, 5))
}

const balances = () => `bank-a ${accounts['bank-a'].balance}, bank-b ${accounts['bank-b'].balance}`

console.log(`\nStart: ${balances()}\n`)

console.log('1. bank-a pays bank-b 200')
const first = await transfer('t1', 'bank-a', 'bank-b', 200)
await coordinator.completion(first.txId)
await settled()
console.log(`  → ${first.decision}; ${balances()}\n`)

console.log('2. bank-b pays bank-a 1,000 (bank-b has 300: it votes no)')
const second = await transfer('t2', 'bank-b', 'bank-a', 1000)
await settled()
console.log(`  → ${second.decision} (${second.decision === 'abort' ? second.reason : ''}); ${balances()}\n`)

console.log('3. bank-a pays bank-b 50; the commit to bank-b is lost and bank-b crashes while in doubt')
participants.get('bank-b')?.once('voted', () => {
  net.block('coord', 'bank-b')
  cut.add('coord>bank-b')
})
const third = await transfer('t3', 'bank-a', 'bank-b', 50)
console.log(
  `  → coordinator decided ${third.decision}; bank-b in doubt: ${participants
    .get('bank-b')
    ?.inDoubt()
    .map((e) => e.txId)}`,
)
note('t3', 'bank-b', 'the commit is lost, and bank-b crashes while in doubt')
logs['bank-b'].crash()
await participants.get('bank-b')?.close()
net.heal()
cut.clear()
console.log('  bank-b restarts from its log:')
note('t3', 'bank-b', 'restarted from its log: in doubt')
participants.set('bank-b', await startParticipant('bank-b'))
await coordinator.completion(third.txId)
console.log(`  → every participant acknowledged; ${balances()}\n`)

console.log(`Audit ledger: ${JSON.stringify(ledger.entries)}`)
const stats = coordinator.stats()
console.log(
  `Coordinator: ${stats.messagesSent.prepare} prepare, ${stats.messagesSent.commit} commit, ${stats.messagesSent.abort} abort sent; ${stats.forcedAppends} forced log writes`,
)

await Promise.all([coordinator.close(), ...[...participants.values()].map((p) => p.close())])

const diagrams = [...trace].map(
  ([txId, entries]) =>
    `## ${txId}\n\n\`\`\`mermaid\n${sequenceDiagram(entries, ['coord', 'bank-a', 'bank-b', 'audit'])}\n\`\`\`\n`,
)
writeFileSync('trace.md', `# twopc demo trace\n\n${diagrams.join('\n')}`)
console.log('Wrote trace.md (Mermaid sequence diagrams of each transfer)')
