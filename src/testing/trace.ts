import type { Message } from '../core/messages.js'
import type { ResourceRequest, TimerKind } from '../core/ready.js'
import type { LogRecord } from '../core/records.js'
import type { Decision, NodeId, TxId } from '../core/types.js'
import type { ResourceResult } from './sim-resource.js'

/** Why a message was lost. */
export type LossReason =
  /** the fault model dropped it */
  | 'loss'
  /** its link was cut */
  | 'partition'
  /** older than the network's message age limit */
  | 'expired'
  /** its recipient was down when it arrived */
  | 'recipient-down'

/**
 * One step of a simulated history. Every nondeterministic choice — which message arrives, which
 * is lost or duplicated, when a disk syncs, which timer fires, what a resource answers, when a
 * node crashes and how much of its unsynced tail survives — is an explicit action, so a history
 * is a list of actions that replays exactly (`SimCluster.apply`) and can be shrunk.
 *
 * Messages are named by `key` (their JSON; identical copies are interchangeable) and, in the
 * simulator, also by `id` (the exact copy).
 */
export type SimAction =
  /** The coordinator's caller starts a transaction. */
  | { readonly type: 'begin'; readonly txId: TxId; readonly participants: readonly NodeId[] }
  /** A message in flight arrives. */
  | { readonly type: 'deliver'; readonly key: string; readonly id?: number }
  /** A message in flight is lost. */
  | { readonly type: 'lose'; readonly key: string; readonly id?: number; readonly reason: LossReason }
  /** A message in flight is duplicated. */
  | { readonly type: 'duplicate'; readonly key: string; readonly id?: number }
  /** A node's disk makes its unsynced tail durable. */
  | { readonly type: 'sync'; readonly node: NodeId }
  /**
   * A node executes the next effect of its oldest pending `Ready` (once that `Ready`'s forced
   * records are durable): one message send — the `message`-th still unsent, default the first —
   * or, when every message is sent, its timers, resource requests and events together.
   */
  | { readonly type: 'effect'; readonly node: NodeId; readonly message?: number }
  /**
   * An armed timer fires; with `late`, a timer that is not armed (cleared or replaced, its callback
   * already queued) fires anyway: the cores must ignore what no longer applies.
   */
  | {
      readonly type: 'fire'
      readonly node: NodeId
      readonly txId: TxId
      readonly timer: TimerKind
      readonly late?: true
    }
  /** The coordinator's caller cancels a transaction (its `signal` fired). */
  | { readonly type: 'cancel'; readonly txId: TxId }
  /** An operator resolves a transaction in doubt on a participant by hand (`resolveManually`). */
  | { readonly type: 'resolve'; readonly node: NodeId; readonly txId: TxId; readonly decision: Decision }
  /**
   * The network delivers a copy of a message in flight (not a `prepare`: any node may coordinate)
   * that claims to come from `from`, a node outside the transaction (a misattributed or forged
   * sender): the cores must not count it.
   */
  | { readonly type: 'forge'; readonly key: string; readonly from: NodeId }
  /** A resource call in progress ends. */
  | {
      readonly type: 'resource'
      readonly node: NodeId
      readonly txId: TxId
      readonly operation: ResourceRequest['type']
      readonly result: ResourceResult
    }
  /** A node loses power: its disk keeps `keep` unsynced records, then maybe a torn one. */
  | { readonly type: 'crash'; readonly node: NodeId; readonly keep: number; readonly torn: boolean }
  /** A crashed node starts again: a new core recovers from what its disk kept. */
  | { readonly type: 'restart'; readonly node: NodeId }

/** A message in a trace: `vote:yes p1→coord t1`, `prepare(1pc) coord→p1 t2`. */
export function describeMessage(message: Message): string {
  return `${kindOf(message)} ${message.from}→${message.to} ${message.txId}`
}

/** `vote:yes`, `vote:refused` (a refusal), `prepare(1pc)`, `prepare(probe)` (bound to no life yet)… */
function kindOf(message: Message): string {
  switch (message.type) {
    case 'vote':
      return message.refused === undefined ? `vote:${message.vote}` : 'vote:refused'
    case 'prepare': {
      const flags = [...(message.onePhase ? ['1pc'] : []), ...(message.inc === 0 ? ['probe'] : [])]
      return flags.length === 0 ? 'prepare' : `prepare(${flags.join(',')})`
    }
    default:
      return message.type
  }
}

/** A record in a trace: `prepared t1`, `outcome:commit t1`. */
export function describeRecord(record: LogRecord): string {
  return record.type === 'outcome'
    ? `outcome:${record.decision} ${record.txId}`
    : `${record.type} ${record.txId}`
}

/** A message key (JSON) in a trace. */
export function describeKey(key: string): string {
  try {
    return describeMessage(JSON.parse(key) as Message)
  } catch {
    return key
  }
}

/** The readable trace of a history: one numbered line per step. */
export function formatTrace(lines: readonly string[], options: { readonly last?: number } = {}): string {
  const last = options.last ?? lines.length
  const start = Math.max(0, lines.length - last)
  const shown = lines.slice(start).map((line, i) => `  ${String(start + i + 1).padStart(4)}  ${line}`)
  return (start > 0 ? [`  … ${start} earlier steps`, ...shown] : shown).join('\n')
}

/** A one-line trace in arrow form: `Begin(t1: p1,p2) → Deliver(prepare coord→p1 t1) → Crash(coord) …`. */
export function arrowTrace(lines: readonly string[]): string {
  return lines.map((line) => line.replace(/^\[[^\]]*\]\s*/, '')).join(' → ')
}
