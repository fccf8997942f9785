/**
 * Keeping N replicas identical with two-phase commit: `npm run example:replicated-store`.
 *
 * Replicas run as separate OS processes, each with its own FileLog and data directory in a
 * temporary directory, talking 2PC over TCP on 127.0.0.1 (authenticated with a shared secret).
 * The leader (the coordinator) runs in this process. The example forms a set of three, writes,
 * adds a fourth while clients keep writing, kills one with SIGKILL (writes stop, reads do not),
 * restarts it, then kills another and removes it from the set — and checks after each step that
 * every replica of the set holds exactly the same data. It exits 0 if every check held.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CommitOutcome, Coordinator, type NodeStats } from '../../src/index.js'
import { FileLog, TcpTransport } from '../../src/node.js'
import { Leader } from './leader.js'
import { ProcessReplica } from './process-replica.js'
import type { ReplicaClient, ReplicaDirectory } from './replica-api.js'

const PREPARE_TIMEOUT_MS = 400
// Above a write's usual latency (a few fsyncs per replica), so that nothing is resent needlessly.
const RETRANSMIT = { retransmitIntervalMs: 100, retransmitIntervalMsMax: 1000 } as const
const began = performance.now()
const dir = mkdtempSync(join(tmpdir(), 'twopc-replicated-store-'))
const secret = randomBytes(32).toString('hex')
const replicas = new Map<string, ProcessReplica>()
let failures = 0

// A safety net: the example must never hang a terminal or a CI job.
const watchdog = setTimeout(() => {
  console.error('replicated-store: still running after 60 s; giving up')
  for (const replica of replicas.values()) void replica.kill()
  process.exit(1)
}, 60_000)
watchdog.unref()

const leaderTransport = await TcpTransport.listen({
  id: 'leader',
  listen: '127.0.0.1:0',
  secret,
  retryDelayMs: 20,
  retryDelayMsMax: 200,
})
mkdirSync(join(dir, 'leader'))
const coordinator = new Coordinator({
  id: 'leader',
  transport: leaderTransport,
  log: new FileLog({ path: join(dir, 'leader', 'twopc.log') }),
  prepareTimeoutMs: PREPARE_TIMEOUT_MS,
  ...RETRANSMIT,
})
const down = (id: string): ReplicaClient => {
  const fail = () => Promise.reject(new Error(`${id} is down`))
  return { get: fail, status: fail, snapshot: fail, install: fail }
}
const directory: ReplicaDirectory = {
  ids: () => [...replicas.keys()],
  client: (id) => replicas.get(id) ?? down(id),
}
const leader = new Leader({ coordinator, replicas: directory })

/** Every node's address, for every node: a replica restarted after SIGKILL listens on a new port. */
function announce(): Record<string, string> {
  const peers: Record<string, string> = { leader: leaderTransport.address }
  for (const [id, replica] of replicas) peers[id] = replica.address
  for (const [id, address] of Object.entries(peers)) if (id !== 'leader') leaderTransport.setPeer(id, address)
  for (const replica of replicas.values()) replica.setPeers(peers)
  return peers
}

/** Starts (or restarts, on the same data dir and log) replica `id` as a child process. */
async function startReplica(id: string): Promise<ProcessReplica> {
  const replicaDir = join(dir, id)
  mkdirSync(replicaDir, { recursive: true })
  const replica = await ProcessReplica.spawn({
    id,
    dir: replicaDir,
    secret,
    timings: { ...RETRANSMIT, cooperativeTerminationAfterMs: 1500 },
  })
  replicas.set(id, replica)
  await replica.start(announce())
  return replica
}

async function kill(id: string): Promise<void> {
  await replicas.get(id)?.kill()
  replicas.delete(id)
}

const ms = (value: number) => `${Math.round(value)} ms`
const round = (value: number) => Math.round(value * 10) / 10
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
const describe = (outcome: CommitOutcome) =>
  outcome.decision === 'commit' ? 'commit' : `abort (${outcome.reason})`

/** Runs `count` puts one after another; returns each outcome and how long it took. */
async function writes(count: number, key: (i: number) => string) {
  const results: { outcome: CommitOutcome; ms: number }[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    const outcome = await leader.put(key(i), { n: i, at: new Date().toISOString() })
    results.push({ outcome, ms: performance.now() - start })
  }
  await Promise.all(
    results.filter((r) => r.outcome.decision === 'commit').map((r) => leader.completion(r.outcome.txId)),
  )
  return results
}

/** Checks that every member of the set holds the same data; prints one line. */
async function checkIdentical(label: string): Promise<void> {
  const statuses = await Promise.all(leader.membership.members.map((id) => directory.client(id).status()))
  const digests = new Set(statuses.map((s) => `${s.digest} ${s.membership.epoch}`))
  const first = statuses[0]
  if (digests.size === 1 && first !== undefined) {
    console.log(
      `   ${label}: ${statuses.map((s) => s.id).join(' = ')} (${first.keys} keys, digest ${first.digest.slice(0, 12)}, epoch ${first.membership.epoch})`,
    )
  } else {
    failures += 1
    console.log(
      `   ${label}: DIFFERENT DATA: ${statuses.map((s) => `${s.id} ${s.digest.slice(0, 12)}`).join(', ')}`,
    )
  }
}

function expectThat(condition: boolean, what: string): void {
  if (!condition) {
    failures += 1
    console.log(`   CHECK FAILED: ${what}`)
  }
}

/** Sums the replicas' participant counters. */
async function replicaCounters(ids: readonly string[]) {
  const stats = await Promise.all(ids.map((id) => replicas.get(id)?.stats()))
  const sum = (pick: (s: { node: NodeStats; storeSaves: number }) => number) =>
    stats.reduce((total, s) => total + (s === undefined ? 0 : pick(s)), 0)
  return {
    messages: sum((s) => Object.values(s.node.messagesSent).reduce((a, b) => a + b, 0)),
    forced: sum((s) => s.node.forcedAppends),
    saves: sum((s) => s.storeSaves),
  }
}

function coordinatorCounters() {
  const stats = coordinator.stats()
  return {
    messages: Object.values(stats.messagesSent).reduce((a, b) => a + b, 0),
    forced: stats.forcedAppends,
  }
}

try {
  console.log('twopc replicated store: N replicas kept identical by two-phase commit')
  console.log(
    'Mode: replicas are separate OS processes over TcpTransport on 127.0.0.1 (HMAC-authenticated),\n' +
      `      each with its own FileLog and data dir under ${dir}; the leader runs in the parent process.\n`,
  )

  console.log('1. Start three replicas and form the set')
  await Promise.all(['replica-1', 'replica-2', 'replica-3'].map(startReplica))
  await leader.start()
  const formed = await leader.bootstrap(['replica-1', 'replica-2', 'replica-3'])
  console.log(
    `   membership transaction → ${describe(formed.outcome)}: epoch ${formed.membership.epoch} = ${formed.membership.members.join(', ')}`,
  )

  console.log('\n2. Every write is one transaction over every replica; reads are local to one replica')
  const show = async (label: string, write: Promise<CommitOutcome>) => {
    const outcome = await write
    if (outcome.decision === 'commit') await leader.completion(outcome.txId)
    console.log(`   ${label.padEnd(62)} → ${describe(outcome)}`)
    return outcome
  }
  await show("put user:ada {plan: 'free'}", leader.put('user:ada', { name: 'Ada', plan: 'free' }))
  await show("put user:bob {plan: 'free'}", leader.put('user:bob', { name: 'Bob', plan: 'free' }))
  const { version } = await directory.client('replica-2').get('user:ada')
  await show(
    `put user:ada {plan: 'pro'} if version = ${version} (read from replica-2)`,
    leader.put('user:ada', { name: 'Ada', plan: 'pro' }, { expectedVersion: version }),
  )
  const stale = await show(
    `put user:ada {plan: 'team'} if version = ${version} (stale now)`,
    leader.put('user:ada', { name: 'Ada', plan: 'team' }, { expectedVersion: version }),
  )
  expectThat(stale.decision === 'abort', 'a write with a stale expected version aborts')
  await show('delete user:bob', leader.delete('user:bob'))
  const reads = await Promise.all(
    leader.membership.members.map(async (id) => {
      const { value, version } = await directory.client(id).get('user:ada')
      return { id, read: `v${version} ${JSON.stringify(value)}` }
    }),
  )
  const answers = new Set(reads.map((r) => r.read))
  expectThat(answers.size === 1, 'every replica answers the same read')
  console.log(
    `   get user:ada → ${[...answers].join(' / ')} from each of ${reads.map((r) => r.id).join(', ')}`,
  )

  const beforeCoordinator = coordinatorCounters()
  const beforeReplicas = await replicaCounters(leader.membership.members)
  const three = await writes(20, (i) => `order:${i}`)
  const afterCoordinator = coordinatorCounters()
  const afterReplicas = await replicaCounters(leader.membership.members)
  const n = leader.membership.members.length
  const perWrite = (after: number, before: number) => (after - before) / three.length
  const messages = perWrite(
    afterCoordinator.messages + afterReplicas.messages,
    beforeCoordinator.messages + beforeReplicas.messages,
  )
  const forced = perWrite(
    afterCoordinator.forced + afterReplicas.forced,
    beforeCoordinator.forced + beforeReplicas.forced,
  )
  const saves = perWrite(afterReplicas.saves, beforeReplicas.saves)
  expectThat(
    three.every((r) => r.outcome.decision === 'commit'),
    'all 20 writes commit',
  )
  console.log(
    `   20 more puts, one after another: ${three.filter((r) => r.outcome.decision === 'commit').length} committed, median ${ms(median(three.map((r) => r.ms)))}, max ${ms(Math.max(...three.map((r) => r.ms)))} per write`,
  )
  console.log(
    `   measured cost per write with N = ${n}: ${round(messages)} messages (4N = ${4 * n}), ${round(forced)} forced log writes` +
      ` (2N+1 = ${2 * n + 1}), ${round(saves)} store saves (at most 2N = ${2 * n}: stage, apply; back-to-back writes share them)`,
  )
  await checkIdentical('identical')

  console.log('\n3. Add replica-4 while two clients keep writing')
  await startReplica('replica-4')
  const client = async (name: string) => {
    const outcomes: CommitOutcome[] = []
    for (let i = 0; i < 10; i++) {
      outcomes.push(await leader.put(`cart:${name}-${i}`, { item: i }))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return outcomes
  }
  const clients = Promise.all([client('c1'), client('c2')])
  await new Promise((resolve) => setTimeout(resolve, 30))
  const addStart = performance.now()
  const added = await leader.addReplica('replica-4')
  const addMs = performance.now() - addStart
  const during = (await clients).flat()
  const committed = during.filter((o) => o.decision === 'commit')
  await Promise.all(committed.map((o) => leader.completion(o.txId)))
  console.log(
    `   replica-4 copied a snapshot of ${added.snapshot?.source} (${added.snapshot?.keys} keys), then a membership transaction` +
      ` over all four → ${describe(added.outcome)} in ${ms(addMs)}: epoch ${added.membership.epoch} = ${added.membership.members.join(', ')}`,
  )
  const onFour = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      ['c1', 'c2'].map((c) => directory.client('replica-4').get(`cart:${c}-${i}`)),
    ).flat(),
  )
  const present = onFour.filter((read) => read.value !== undefined).length
  expectThat(present === committed.length, 'replica-4 holds every write committed around the change')
  console.log(
    `   meanwhile: ${during.length} writes, ${committed.length} committed (each before or after the change, never across it);` +
      ` replica-4 holds ${present} of them`,
  )
  await checkIdentical('identical')
  const four = await writes(10, (i) => `order:${20 + i}`)
  console.log(
    `   10 puts with N = 4: median ${ms(median(four.map((r) => r.ms)))} per write (N = 3: ${ms(median(three.map((r) => r.ms)))}):` +
      ' replicas prepare in parallel, so latency barely grows with N; messages and fsyncs grow linearly',
  )

  console.log('\n4. The price of atomicity: kill -9 replica-3')
  await kill('replica-3')
  const outage = await writes(5, (i) => `order:outage-${i}`)
  const timedOut = outage.filter(
    (r) => r.outcome.decision === 'abort' && r.outcome.reason === 'prepare-timeout',
  )
  expectThat(timedOut.length === outage.length, 'every write aborts while a member is down')
  const readStart = performance.now()
  const served = await Promise.all(
    ['replica-1', 'replica-2', 'replica-4'].map(async (id) => {
      const start = performance.now()
      const read = await directory.client(id).get('user:ada')
      return { id, read, ms: performance.now() - start }
    }),
  )
  const readsMs = performance.now() - readStart
  console.log(
    `   replica-3 down: ${outage.length} writes attempted, ${timedOut.length} aborted by prepare-timeout after ~${ms(median(outage.map((r) => r.ms)))} each` +
      ` (prepareTimeoutMs ${PREPARE_TIMEOUT_MS})`,
  )
  console.log(
    `   reads from ${served.map((s) => s.id).join(', ')} still served: user:ada v${served[0]?.read.version} on each, in ${ms(readsMs)} for all three`,
  )

  console.log('\n5. replica-3 restarts on its data dir and log')
  await startReplica('replica-3')
  const back = await directory.client('replica-3').status()
  console.log(
    `   it recovered ${back.keys} keys at epoch ${back.membership.epoch} from its store, ${back.staged} staged; it is still a member`,
  )
  const returned = await writes(5, (i) => `order:back-${i}`)
  // Unless the leader already heard from replica-3's new life (it asks about what it holds in doubt),
  // it binds the first write to the life it knew, which the restarted replica refuses: that write
  // aborts `refused` (it did nothing anywhere; safe to retry), and the refusal tells the leader the
  // new life, to which every later write is bound.
  const [first, ...rest] = returned
  const refusedFirst = first?.outcome.decision === 'abort' && first.outcome.reason === 'refused'
  expectThat(
    (first?.outcome.decision === 'commit' || refusedFirst) &&
      rest.every((r) => r.outcome.decision === 'commit'),
    'writes commit once it is back (the first may be refused: meant for its previous life)',
  )
  if (refusedFirst)
    console.log("   the first write → abort (refused): it was bound to replica-3's life before the restart")
  console.log(
    `   writes commit again: ${returned.filter((r) => r.outcome.decision === 'commit').length}/5, median ${ms(median(returned.map((r) => r.ms)))}`,
  )
  await checkIdentical('identical')

  console.log('\n6. kill -9 replica-2, and remove it from the set instead of waiting for it')
  await kill('replica-2')
  const blocked = await writes(1, () => 'order:blocked')
  console.log(`   a write while it is down → ${blocked.map((r) => describe(r.outcome)).join()}`)
  const removeStart = performance.now()
  const removed = await leader.removeReplica('replica-2')
  console.log(
    `   membership transaction over the three remaining → ${describe(removed.outcome)} in ${ms(performance.now() - removeStart)}:` +
      ` epoch ${removed.membership.epoch} = ${removed.membership.members.join(', ')}`,
  )
  const after = await writes(5, (i) => `order:after-${i}`)
  expectThat(
    after.every((r) => r.outcome.decision === 'commit'),
    'writes commit once it is removed',
  )
  console.log(
    `   replica-2 removed from the set: writes commit again: ${after.filter((r) => r.outcome.decision === 'commit').length}/5,` +
      ` median ${ms(median(after.map((r) => r.ms)))}`,
  )
  await checkIdentical('identical')

  console.log(
    `\n${failures === 0 ? 'Every check held' : `${failures} CHECKS FAILED`}; ${ms(performance.now() - began)} in all.`,
  )
} catch (error) {
  failures += 1
  console.error('replicated-store failed:', error)
} finally {
  await Promise.all([...replicas.values()].map((replica) => replica.stop()))
  await leader.close()
  await leaderTransport.close() // already closed if the coordinator ran; not if it never started
  rmSync(dir, { recursive: true, force: true })
  clearTimeout(watchdog)
  process.exitCode = failures === 0 ? 0 : 1
}
