import { invalidOption } from '../core/options.js'
import type { TimerKind } from '../core/ready.js'
import type { NodeId, Vote } from '../core/types.js'
import { VOTES } from '../core/validate.js'
import { fingerprint } from './canonical.js'
import type { Violation } from './invariants.js'
import type { MutantName } from './mutants.js'
import { replay, shrinkHistory } from './shrink.js'
import { type NetworkSemantics, SimCluster } from './sim-cluster.js'
import type { SimNode } from './sim-node.js'
import { arrowTrace, formatTrace, type SimAction } from './trace.js'

/** Which nodes a model-checker configuration lets crash. */
export type CrashTargets = 'any' | 'coordinator' | 'participants'

/** One configuration of the exhaustive model checker. */
export interface ModelCheckerConfig {
  /** Names the configuration in reports. */
  readonly name: string
  /** Number of participants (ids p1, p2, …); one transaction over all of them unless `transactions` says otherwise. */
  readonly participants: number
  /** The transactions, as lists of participant numbers (1-based); they may begin at any point. @default [[1..participants]] */
  readonly transactions?: readonly (readonly number[])[]
  /** What a resource's `prepare` may answer; every choice is explored. @default ['yes', 'no'] */
  readonly votes?: readonly Vote[]
  /**
   * Whether a resource may answer `prepare` differently when asked again about the same
   * transaction (after its participant restarted and forgot). @default false: a resource's
   * answer for a given piece of work is stable.
   */
  readonly fickleVotes?: boolean
  /** Crashes allowed (at any point, keeping any prefix of the unsynced tail). */
  readonly crashes: number
  /** Which nodes may crash. @default 'any' */
  readonly crashTargets?: CrashTargets
  /** Compact logs after `end` records; a stale message may still reach the compacted node. @default false */
  readonly compaction?: boolean
  /** @default 'datagram' (any message may arrive after its recipient restarted) */
  readonly network?: NetworkSemantics
  /** The cores' `rememberedTransactions` (1: every finished transaction is forgotten at the next). @default the cores' default */
  readonly rememberedTransactions?: number
  /** The caller may cancel any transaction at any moment. @default false */
  readonly cancels?: boolean
  /** How many times an operator may resolve an in-doubt transaction by hand (`resolveManually`), either way. @default 0 */
  readonly manualResolutions?: number
  /** How many times a timer that is not armed may fire anyway (a late timer). @default 0 */
  readonly lateTimers?: number
  /** How many copies of messages in flight the network may deliver as if sent by a node outside their transaction. @default 0 */
  readonly forgeries?: number
  /** Check a broken core (tests only). */
  readonly mutant?: MutantName
  /** Reduce by symmetry over participants (they are interchangeable: same resource choices). @default true */
  readonly symmetry?: boolean
  /** Most pending `Ready`s per node; more inputs wait (keeps the state space finite). @default 2 */
  readonly maxPendingReadys?: number
  /** Stop (incomplete) after this many distinct states. @default 2_000_000 */
  readonly maxStates?: number
  /**
   * Most records a node's log may hold (durable and unsynced). A state beyond it is not explored
   * further and is reported as `unboundedLog`: with one transaction a log needs a handful of
   * records, so growth past this bound means a node appends without limit. @default 12
   */
  readonly maxRecordsPerNode?: number
}

/** What one exhaustive exploration found. */
export interface ModelCheckerResult {
  readonly config: ModelCheckerConfig
  /** Distinct states reached (after symmetry reduction). */
  readonly states: number
  /** Transitions explored. */
  readonly transitions: number
  /** Depth of the deepest state: the longest shortest path from the start, in steps. */
  readonly depth: number
  /** Wall-clock milliseconds. */
  readonly timeMs: number
  /**
   * True when every reachable state was explored: not cut by `maxStates`, by `maxRecordsPerNode`
   * (see `unboundedLog`), nor by a violation.
   */
  readonly complete: boolean
  /**
   * The first violation found: the shortest history reaching it (breadth-first, counting the
   * steps the checker takes eagerly) and that history shrunk to the actions that matter. L1 is
   * checked in every quiescent state (every node up and nothing left to happen but faults): what
   * is unfinished there will stay unfinished.
   */
  readonly violation?: {
    readonly violation: Violation
    readonly trace: readonly string[]
    readonly shrunk: readonly string[]
  }
  /** States cut because a log outgrew `maxRecordsPerNode`, with the shortest history to the first. */
  readonly unboundedLog?: {
    readonly states: number
    readonly node: string
    readonly trace: readonly string[]
  }
}

/**
 * The configurations CI checks (about 45 s together here). Every one runs on a datagram network:
 * loss, duplication and reordering are unbounded, and a message may reach its recipient after it
 * restarted (see {@link checkModel}).
 */
export const CI_MODEL_CHECKS: readonly ModelCheckerConfig[] = [
  {
    name: '1 coordinator + 1 participant (one-phase) voting yes/no/read-only, 2 crashes',
    participants: 1,
    votes: ['yes', 'no', 'read-only'],
    crashes: 2,
  },
  { name: '1 coordinator + 2 participants voting yes/no, 1 crash of any node', participants: 2, crashes: 1 },
  {
    name: '1 coordinator + 2 participants voting yes/no, 2 crashes of any nodes',
    participants: 2,
    crashes: 2,
  },
  {
    name: '1 coordinator + 2 participants voting yes/no/read-only, 1 crash',
    participants: 2,
    votes: ['yes', 'no', 'read-only'],
    crashes: 1,
  },
  {
    name: '1 coordinator + 2 participants, 1 crash, compaction, stale messages after restarts',
    participants: 2,
    crashes: 1,
    compaction: true,
  },
  {
    name: '1 coordinator + 2 participants whose resources may change their vote after a restart, 1 crash',
    participants: 2,
    crashes: 1,
    fickleVotes: true,
  },
  {
    name: '1 coordinator + 1 participant remembering 1 finished transaction, 2 one-phase transactions, compaction',
    participants: 1,
    transactions: [[1], [1]],
    votes: ['yes', 'no', 'read-only'],
    crashes: 0,
    compaction: true,
    rememberedTransactions: 1,
  },
  {
    name: '1 coordinator + 2 participants and an outsider: cancels, a late timer, a forged sender, a resolution by hand',
    participants: 3,
    transactions: [[1, 2]],
    crashes: 0,
    cancels: true,
    lateTimers: 1,
    forgeries: 1,
    manualResolutions: 1,
  },
  {
    name: '1 coordinator + 3 participants voting yes/no, 1 crash of the coordinator',
    participants: 3,
    crashes: 1,
    crashTargets: 'coordinator',
  },
]

/** Bigger configurations, for `npm run verify:deep` (minutes, not seconds). */
export const DEEP_MODEL_CHECKS: readonly ModelCheckerConfig[] = [
  {
    name: '1 coordinator + 2 participants voting yes/no/read-only, 2 crashes of any nodes',
    participants: 2,
    votes: ['yes', 'no', 'read-only'],
    crashes: 2,
  },
  {
    name: '1 coordinator + 1 participant remembering 1 finished transaction, 2 one-phase transactions, compaction, 1 crash',
    participants: 1,
    transactions: [[1], [1]],
    crashes: 1,
    compaction: true,
    rememberedTransactions: 1,
  },
  {
    name: '1 coordinator + 2 participants remembering 1 finished transaction, a two-phase then a one-phase transaction, compaction',
    participants: 2,
    transactions: [[1, 2], [1]],
    crashes: 0,
    compaction: true,
    rememberedTransactions: 1,
  },
  { name: '1 coordinator + 3 participants voting yes/no, 1 crash of any node', participants: 3, crashes: 1 },
  {
    name: '1 coordinator + 3 participants voting yes, 1 crash of a participant',
    participants: 3,
    votes: ['yes'],
    crashes: 1,
    crashTargets: 'participants',
  },
]

/** What is left of the faults a configuration allows. */
interface Budget {
  readonly crashes: number
  readonly resolutions: number
  readonly lateTimers: number
  readonly forgeries: number
}

/** The budget an action spends. */
function spend(budget: Budget, action: SimAction): Budget {
  switch (action.type) {
    case 'crash':
      return { ...budget, crashes: budget.crashes - 1 }
    case 'resolve':
      return { ...budget, resolutions: budget.resolutions - 1 }
    case 'forge':
      return { ...budget, forgeries: budget.forgeries - 1 }
    case 'fire':
      return action.late ? { ...budget, lateTimers: budget.lateTimers - 1 } : budget
    default:
      return budget
  }
}

/** Actions that are faults or outside inputs, not progress: a state where only these remain is quiescent. */
function isFault(action: SimAction): boolean {
  return (
    action.type === 'crash' ||
    action.type === 'cancel' ||
    action.type === 'resolve' ||
    action.type === 'forge' ||
    (action.type === 'fire' && action.late === true)
  )
}

/**
 * Explores breadth-first every state reachable by the REAL cores (or a mutant) in a small
 * cluster, checking S1–S7 on every transition, and returns the shortest history to the first
 * violation. Nondeterminism explored: the order of every delivery, sync, effect, timer and
 * resource answer; any vote in `votes`; crashes within the budget (keeping any prefix of the
 * unsynced tail) and restarts; and an adversarial network: every message sent stays deliverable
 * forever, any number of times, in any order, or never (unbounded loss, duplication and
 * reordering — a strictly larger set of behaviours than any loss or duplication budget), where a
 * message may also reach its recipient after it restarted and compacted. When configured, also:
 * the caller's `cancel` at any moment, late timers, copies of messages forged as from a node
 * outside the transaction, and `resolveManually` either way. L1 is checked in every quiescent
 * state: every node up, nothing left to happen but faults, and still something unfinished (a
 * transaction in flight, a prepared transaction undecided, a log that cannot be compacted) fails.
 *
 * Abstractions:
 * - time: the prepare timeout may fire at any moment; timers that only resend (retransmission,
 *   decision-request) fire as soon as their node is idle, since in this network a message sent
 *   early may still arrive late or never; their counters are not part of the state (an in-doubt
 *   participant asks its peers from its second request on);
 * - a `Ready`'s effects run as soon as its records are durable, in one step (as the runtime's
 *   microtasks do); a crash between two of its sends is covered by the adversarial network, where
 *   a message sent but never delivered is the same as one not sent;
 * - at most `maxPendingReadys` pending `Ready`s per node (further inputs wait);
 * - a resource answers `prepare` for a transaction the same way every time, unless `fickleVotes`.
 *
 * States are identified by a fingerprint of a canonical serialization of every core (their own
 * properties, read by reflection), disk, pending effect, timer, resource call, message in flight,
 * the invariant's ghost state and the budgets left — minimised over participant permutations.
 */
export function checkModel(config: ModelCheckerConfig): ModelCheckerResult {
  checkConfig(config)
  const started = Date.now()
  const participants = Array.from({ length: config.participants }, (_, i) => `p${i + 1}`)
  const votes = config.votes ?? ['yes', 'no']
  const transactions = (config.transactions ?? [participants.map((_, i) => i + 1)]).map((members, i) => ({
    txId: `t${i + 1}`,
    participants: members.map((n) => `p${n}`),
  }))
  const symmetric = (config.symmetry ?? true) && config.transactions === undefined
  const identity = [new Map(participants.map((id) => [id, id]))]
  const start = () =>
    new SimCluster({
      participants,
      timing: { cooperativeTerminationAfterMs: 1 },
      compaction: config.compaction ?? false,
      ...(config.network === undefined ? {} : { network: config.network }),
      ...(config.rememberedTransactions === undefined
        ? {}
        : { rememberedTransactions: config.rememberedTransactions }),
      messageSet: true,
      eagerEffects: true,
      maxPendingReadys: config.maxPendingReadys ?? 2,
      ...(config.mutant === undefined ? {} : { mutant: config.mutant }),
    })
  const key = (cluster: SimCluster, budget: Budget): string => {
    let best: string | undefined
    for (const renaming of symmetric ? renamingsOf(cluster, participants) : identity) {
      const text = cluster.canonical(renaming)
      if (best === undefined || text < best) best = text
    }
    return fingerprint(
      `${best}\n${budget.crashes},${budget.resolutions},${budget.lateTimers},${budget.forgeries}`,
    )
  }

  const maxStates = config.maxStates ?? 2_000_000
  const pure = new Map<string, readonly string[] | false>()
  const root = start()
  const rootBudget: Budget = {
    crashes: config.crashes,
    resolutions: config.manualResolutions ?? 0,
    lateTimers: config.lateTimers ?? 0,
    forgeries: config.forgeries ?? 0,
  }
  const visited = new Set<string>([key(root, rootBudget)])
  // Parent links for the shortest-trace reconstruction: state index → (parent index, action).
  const parents: number[] = [-1]
  const via: (readonly SimAction[])[] = [[]]
  let frontier: { cluster: SimCluster; budget: Budget; index: number }[] = [
    { cluster: root, budget: rootBudget, index: 0 },
  ]
  let transitions = 0
  let depth = 0
  const maxRecords = config.maxRecordsPerNode ?? 12
  let unboundedLog: { states: number; node: string; trace: readonly string[] } | undefined
  const pathTo = (index: number, last: readonly SimAction[]): SimAction[] => {
    const path = [...last]
    for (let at = index; at > 0; at = parents[at] as number) path.unshift(...(via[at] ?? []))
    return path
  }
  const finish = (complete: boolean, violation?: ModelCheckerResult['violation']): ModelCheckerResult => ({
    config,
    states: visited.size,
    transitions,
    depth,
    timeMs: Date.now() - started,
    complete,
    ...(violation === undefined ? {} : { violation }),
    ...(unboundedLog === undefined ? {} : { unboundedLog }),
  })

  while (frontier.length > 0) {
    const next: typeof frontier = []
    for (const state of frontier) {
      const actions = enabledActions(state.cluster, state.budget, config, votes, transactions, pure)
      const stuck = quiescentProblems(state.cluster, actions)
      if (stuck.length > 0) {
        const violation = {
          invariant: 'L1' as const,
          message: `quiescent with work unfinished: ${stuck.join('; ')}`,
        }
        const trace = [...replay(start, pathTo(state.index, [])).trace, `✗ L1: ${violation.message}`]
        return finish(false, { violation, trace, shrunk: trace })
      }
      for (const action of actions) {
        const cluster = state.cluster.clone()
        if (cluster.apply(action) === undefined) continue
        transitions += 1
        const budget = spend(state.budget, action)
        const edge = [
          action,
          ...syncUncrashable(cluster, budget, config.crashTargets ?? 'any'),
          ...resend(cluster, pure),
          ...answerEagerly(cluster, pure),
        ]
        if (cluster.violation !== undefined) {
          const path = pathTo(state.index, edge)
          const history = replay(start, path)
          const shrunk = shrinkHistory(start, path, cluster.violation.invariant, 5000)
          return finish(false, { violation: cluster.violation, trace: history.trace, shrunk: shrunk.trace })
        }
        const id = key(cluster, budget)
        if (visited.has(id)) continue
        const grown = [...cluster.nodes.values()].find(
          (node) => node.disk.durableRecords.length + node.disk.unsynced > maxRecords,
        )
        if (grown !== undefined) {
          visited.add(id)
          if (unboundedLog === undefined) {
            const history = replay(start, pathTo(state.index, edge))
            unboundedLog = { states: 0, node: grown.id, trace: history.trace }
          }
          unboundedLog.states += 1
          continue
        }
        visited.add(id)
        parents.push(state.index)
        via.push(edge)
        next.push({ cluster, budget, index: parents.length - 1 })
        if (visited.size >= maxStates) return finish(false)
      }
    }
    frontier = next
    if (next.length > 0) depth += 1
  }
  // States cut by the log bound were not explored: the exploration is not complete.
  return finish(unboundedLog === undefined)
}

/**
 * L1 in a quiescent state: every node is up and nothing but faults can happen (no message whose
 * delivery changes anything, no timer, sync, effect or resource call, every transaction begun).
 * Then whatever is unfinished stays so forever. Returns what is unfinished (empty: L1 holds, or
 * the state is not quiescent).
 */
function quiescentProblems(cluster: SimCluster, actions: readonly SimAction[]): string[] {
  if (actions.some((action) => !isFault(action))) return []
  if ([...cluster.nodes.values()].some((node) => !node.up)) return []
  return cluster.terminationProblems()
}

/** Whether `node` may still crash. */
function crashable(node: SimNode, budget: Budget, targets: CrashTargets): boolean {
  return (
    budget.crashes > 0 && (targets === 'any' || (targets === 'coordinator') === (node.role === 'coordinator'))
  )
}

/**
 * A node that can no longer crash (no crash left, or not a crash target) syncs right after each
 * step: when its records become durable makes no difference any more (only its crash could tell),
 * so this gives far fewer states and the same behaviours. Sends are still checked against the
 * disk as it was when they left (S2), because effects that need not wait for the disk run before
 * this sync.
 */
function syncUncrashable(cluster: SimCluster, budget: Budget, targets: CrashTargets): SimAction[] {
  const syncs: SimAction[] = []
  for (const node of cluster.nodes.values()) {
    if (node.disk.unsynced === 0 || crashable(node, budget, targets)) continue
    const sync: SimAction = { type: 'sync', node: node.id }
    if (cluster.apply(sync) === undefined) continue
    syncs.push(sync)
    if (cluster.violation !== undefined) break
  }
  return syncs
}

/** Timers that only send again what was sent before (the retransmission and decision-request timers). */
const RESENDERS: ReadonlySet<string> = new Set(['retransmit', 'decision-request'])

/**
 * Fires every armed retransmission and decision-request timer of an idle node right away. Their
 * only effects are messages (a retransmitting coordinator, an in-doubt participant asking,
 * a one-phase participant resending its vote) plus counters the canonical state abstracts; in
 * the adversarial network, a message sent early may still arrive late or never, so sending as
 * early as possible loses no behaviour and makes the network a function of the nodes' states.
 * A node with effects waiting for its disk is left alone: it fires after the next step.
 */
function resend(cluster: SimCluster, pure: Map<string, readonly string[] | false>): SimAction[] {
  const fired: SimAction[] = []
  for (const node of [...cluster.nodes.values()]) {
    if (!node.up || node.pending.size > 0) continue
    for (const timer of [...node.timers.values()]) {
      if (!RESENDERS.has(timer.timer) || cluster.violation !== undefined) continue
      const fire: SimAction = { type: 'fire', node: node.id, txId: timer.txId, timer: timer.timer }
      const before = cluster.nodeState(node.id)
      const known = `${node.id}|${before}|${timer.timer} ${timer.txId}`
      const sends = pure.get(known)
      if (sends !== undefined && sends !== false && sends.every((key) => cluster.network.has(key))) continue
      // The node as it is now (an earlier firing in this loop may have replaced it).
      const cache = new Map(cluster.node(node.id).canonicalCache)
      if (cluster.apply(fire) === undefined) continue
      fired.push(fire)
      const unchanged = cluster.node(node.id).pending.size === 0 && cluster.nodeState(node.id) === before
      if (unchanged) cluster.node(node.id).canonicalCache = cache
      pure.set(known, unchanged ? cluster.lastSent : false)
    }
  }
  return fired
}

/**
 * Delivers right away every message whose delivery leaves its recipient's state unchanged and
 * only makes it answer (a duplicate `prepare` answered by the same vote, a `decision-request`
 * answered by a known outcome): such a delivery commutes with every other step, and its answers
 * may still arrive late or never, so taking it early loses no behaviour (its sends are still
 * checked, S2 included). Repeats until nothing new is sent. `pure` caches, by recipient state and
 * message, whether a delivery is of this kind.
 */
function answerEagerly(cluster: SimCluster, pure: Map<string, readonly string[] | false>): SimAction[] {
  const delivered: SimAction[] = []
  for (let grew = true; grew && cluster.violation === undefined; ) {
    grew = false
    for (const entry of [...cluster.network.inFlight]) {
      const { key } = entry
      const to = entry.message.to
      const recipient = cluster.node(to)
      if (!recipient.up || recipient.pending.size > 0) continue
      const before = cluster.nodeState(to)
      const deliver: SimAction = { type: 'deliver', key }
      const known = `${before}|${key}`
      let answers = pure.get(known)
      if (answers === undefined) {
        const trial = cluster.clone()
        trial.apply(deliver)
        const unchanged =
          trial.violation === undefined && trial.node(to).pending.size === 0 && trial.nodeState(to) === before
        answers = unchanged ? trial.lastSent : false
        pure.set(known, answers)
      }
      // Nothing new to say (its answers are already in flight, and so are their holdings): skip.
      if (answers === false || answers.every((answer) => cluster.network.has(answer))) continue
      const cache = new Map(recipient.canonicalCache)
      cluster.apply(deliver)
      // The recipient's state is unchanged (that is what made the delivery eager): keep its cache.
      cluster.node(to).canonicalCache = cache
      delivered.push(deliver)
      grew = true
      break
    }
  }
  return delivered
}

/** Every action possible in `cluster` within `budget`. */
function enabledActions(
  cluster: SimCluster,
  budget: Budget,
  config: ModelCheckerConfig,
  votes: readonly Vote[],
  transactions: readonly { readonly txId: string; readonly participants: readonly NodeId[] }[],
  pure: ReadonlyMap<string, readonly string[] | false>,
): SimAction[] {
  const fickle = config.fickleVotes ?? false
  const targets = config.crashTargets ?? 'any'
  const actions: SimAction[] = []
  const begun = new Set(cluster.tracker.txIds)
  if (cluster.accepts(cluster.node(cluster.coordinatorId))) {
    for (const tx of transactions) {
      if (!begun.has(tx.txId)) actions.push({ type: 'begin', txId: tx.txId, participants: tx.participants })
      else if (config.cancels) actions.push({ type: 'cancel', txId: tx.txId })
    }
  }
  for (const node of cluster.nodes.values()) {
    if (!node.up) {
      actions.push({ type: 'restart', node: node.id })
      continue
    }
    // Effects run eagerly (SimClusterOptions.eagerEffects): there is no separate effect step.
    if (node.disk.unsynced > 0 && crashable(node, budget, targets))
      actions.push({ type: 'sync', node: node.id })
    if (cluster.accepts(node)) {
      for (const timer of node.timers.values()) {
        if (!RESENDERS.has(timer.timer))
          actions.push({ type: 'fire', node: node.id, txId: timer.txId, timer: timer.timer })
      }
      for (const txId of begun) {
        if (budget.lateTimers > 0) {
          const kinds = node.role === 'coordinator' ? COORDINATOR_TIMERS : PARTICIPANT_TIMERS
          for (const timer of kinds) {
            if (!node.timers.has(`${timer} ${txId}`))
              actions.push({ type: 'fire', node: node.id, txId, timer, late: true })
          }
        }
        if (
          budget.resolutions > 0 &&
          node.role === 'participant' &&
          node.timers.has(`decision-request ${txId}`)
        ) {
          for (const decision of ['commit', 'abort'] as const)
            actions.push({ type: 'resolve', node: node.id, txId, decision })
        }
      }
      for (const call of node.calls) {
        const base = {
          type: 'resource',
          node: node.id,
          txId: call.request.tx.txId,
          operation: call.request.type,
        } as const
        if (call.request.type === 'prepare') {
          const before = fickle ? undefined : node.answers.get(call.request.tx.txId)
          for (const vote of before === undefined ? votes : [before]) {
            actions.push({ ...base, result: { type: 'vote', vote } })
          }
        } else {
          actions.push({ ...base, result: { type: 'applied' } })
        }
      }
    }
    if (crashable(node, budget, targets)) {
      for (let keep = 0; keep <= node.disk.unsynced; keep++) {
        actions.push({ type: 'crash', node: node.id, keep, torn: false })
      }
    }
  }
  // The network is a set (see SimNetwork): any message sent may arrive, again and again, or never.
  // A delivery known to change nothing at its recipient was taken eagerly already (answerEagerly):
  // taking it again would lead back to this very state.
  for (const entry of cluster.network.inFlight) {
    const recipient = cluster.node(entry.message.to)
    if (!cluster.accepts(recipient)) continue
    if (recipient.pending.size === 0 && pure.get(`${cluster.nodeState(recipient.id)}|${entry.key}`)) continue
    actions.push({ type: 'deliver', key: entry.key })
    if (budget.forgeries > 0 && entry.message.type !== 'prepare') {
      for (const from of cluster.outsidersOf(entry.message.txId))
        actions.push({ type: 'forge', key: entry.key, from })
    }
  }
  return actions
}

const COORDINATOR_TIMERS: readonly TimerKind[] = ['prepare-timeout', 'retransmit']
const PARTICIPANT_TIMERS: readonly TimerKind[] = ['decision-request']

/**
 * The participant renamings to try when canonicalizing `cluster` under symmetry: participants
 * are ordered by their blinded local state (`SimCluster.shapeOf`) and renamed p1, p2, … in that
 * order; participants with equal blinded states may be ordered either way, so every order among
 * them is tried. The minimum over these renamings is the same for every renaming of a state
 * (its blinded states are the same), and usually there is just one to try.
 */
function renamingsOf(cluster: SimCluster, participants: readonly NodeId[]): Map<NodeId, NodeId>[] {
  const groups = new Map<string, NodeId[]>()
  for (const id of participants) {
    const shape = cluster.shapeOf(id)
    groups.set(shape, [...(groups.get(shape) ?? []), id])
  }
  let orders: NodeId[][] = [[]]
  for (const shape of [...groups.keys()].sort()) {
    const members = groups.get(shape) ?? []
    orders = orders.flatMap((prefix) => permute(members).map((tail) => [...prefix, ...tail]))
  }
  return orders.map((order) => new Map(order.map((id, i) => [id, participants[i] as NodeId])))
}

function permute<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  const result: T[][] = []
  items.forEach((item, i) => {
    for (const rest of permute([...items.slice(0, i), ...items.slice(i + 1)])) result.push([item, ...rest])
  })
  return result
}

/** A report of one exploration: figures, and the shortest counterexample if any. */
export function formatModelCheckerResult(result: ModelCheckerResult): string {
  const { config } = result
  const figures = `${result.states.toLocaleString('en-US')} states, ${result.transitions.toLocaleString('en-US')} transitions, depth ${result.depth}, ${(result.timeMs / 1000).toFixed(1)}s`
  const status = result.violation
    ? `VIOLATION of ${result.violation.violation.invariant}`
    : result.complete
      ? 'complete, no violation'
      : result.unboundedLog
        ? 'INCOMPLETE (states cut by the log bound), no violation in the rest'
        : 'INCOMPLETE (state limit reached)'
  const lines = [
    `model check [${config.name}${config.mutant ? `, mutant ${config.mutant}` : ''}]: ${status} — ${figures}`,
  ]
  if (result.unboundedLog) {
    lines.push(
      `  UNBOUNDED LOG: ${result.unboundedLog.states} states cut where ${result.unboundedLog.node}'s log outgrew ${config.maxRecordsPerNode ?? 12} records; shortest history:`,
    )
    lines.push(formatTrace(result.unboundedLog.trace, { last: 12 }))
  }
  if (result.violation) {
    lines.push(`  ${result.violation.violation.message}`)
    lines.push(`  shortest trace (${result.violation.trace.length} steps):`)
    lines.push(formatTrace(result.violation.trace))
    lines.push(`  shrunk to the ${result.violation.shrunk.length} steps that matter:`)
    lines.push(`  ${arrowTrace(result.violation.shrunk)}`)
  }
  return lines.join('\n')
}

/**
 * Refuses a configuration that cannot mean what it says (found by review: `votes: []` reported a
 * false L1 violation, a transaction naming a participant that does not exist threw a plain Error).
 * @throws TwopcError `INVALID_OPTIONS`
 */
function checkConfig(config: ModelCheckerConfig): void {
  const count = (name: string, value: unknown, min: number) => {
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= min))
      invalidOption(name, `an integer of at least ${min}`, value)
  }
  count('participants', config.participants, 1)
  count('crashes', config.crashes, 0)
  count('manualResolutions', config.manualResolutions, 0)
  count('lateTimers', config.lateTimers, 0)
  count('forgeries', config.forgeries, 0)
  count('rememberedTransactions', config.rememberedTransactions, 1)
  count('maxPendingReadys', config.maxPendingReadys, 1)
  count('maxStates', config.maxStates, 1)
  count('maxRecordsPerNode', config.maxRecordsPerNode, 1)
  const oneOf = (name: string, value: unknown, allowed: readonly string[]) => {
    if (value !== undefined && !allowed.includes(value as string))
      invalidOption(name, `one of ${allowed.join(', ')}`, value)
  }
  oneOf('crashTargets', config.crashTargets, ['any', 'coordinator', 'participants'])
  oneOf('network', config.network, ['datagram', 'connection'])
  if (config.transactions !== undefined && config.transactions.length === 0)
    invalidOption('transactions', 'at least one transaction', config.transactions)
  if (
    config.votes !== undefined &&
    (config.votes.length === 0 || !config.votes.every((vote) => VOTES.includes(vote)))
  )
    invalidOption('votes', `a non-empty list of ${VOTES.join(', ')}`, config.votes)
  for (const members of config.transactions ?? []) {
    const valid = members.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= config.participants)
    if (members.length === 0 || !valid || new Set(members).size !== members.length)
      invalidOption(
        'transactions',
        `lists of distinct participant numbers from 1 to ${config.participants}`,
        members,
      )
  }
}
