import type { LogEntry } from '../adapters/file-log-format.js'
import { replayEntries } from '../adapters/file-log-format.js'
import type { LogRecord, NodeRole } from '../core/records.js'
import type { Decision, NodeId, TxId } from '../core/types.js'

/**
 * What `twopc inspect` reports about one log: a pure function of the frames read from the file
 * ({@link inspectLog}), so the command never needs the service that owns the log.
 */
export interface InspectReport {
  /** From the latest incarnation record; undefined for an empty or a version-1 log (no owner recorded). */
  readonly owner: LogOwner | undefined
  /** Intact frames in the file: records and forget notes, live or not. */
  readonly frames: number
  /** Records a restart would recover (forgotten ones left out). */
  readonly liveRecords: number
  /** Bytes at the end that are no whole frame yet: an append in progress (or the torn tail of a crash). */
  readonly tailBytes: number
  /** Coordinator: decided commit, some participant has not acked (a `commit` record, no `end`). */
  readonly committing: readonly CommittingTransaction[]
  /** Participant: voted yes, outcome unknown (a `prepared` record, no outcome, no `end`). */
  readonly inDoubt: readonly InDoubtTransaction[]
  /** Participant: outcome known, the resource has not finished applying it (no `end`). */
  readonly applying: readonly ApplyingTransaction[]
  /** Participant: outcome taken by hand (`resolveManually`), not yet confirmed by the coordinator. */
  readonly heuristic: readonly HeuristicTransaction[]
  /** The last finished transactions (an `end` record) still in the file, oldest first. */
  readonly recent: readonly FinishedTransaction[]
  /** How many finished transactions the file still holds (`recent` shows the last of them). */
  readonly finished: number
}

/** The node a log belongs to, and its current life (`n` of its latest incarnation record). */
export interface LogOwner {
  readonly node: NodeId
  readonly role: NodeRole
  readonly life: number
}

/** See {@link InspectReport.committing}. */
export interface CommittingTransaction {
  readonly txId: TxId
  readonly participants: readonly NodeId[]
}

/** See {@link InspectReport.inDoubt}. */
export interface InDoubtTransaction {
  readonly txId: TxId
  readonly coordinator: NodeId
  readonly participants: readonly NodeId[]
  /** One-phase: a restart aborts it (the crash came between its two records). */
  readonly onePhase: boolean
}

/** See {@link InspectReport.applying}. */
export interface ApplyingTransaction {
  readonly txId: TxId
  readonly decision: Decision
}

/** See {@link InspectReport.heuristic}. */
export interface HeuristicTransaction {
  readonly txId: TxId
  readonly decision: Decision
  /** The reason the operator gave. */
  readonly reason: string
}

/** See {@link InspectReport.recent}. */
export interface FinishedTransaction {
  readonly txId: TxId
  /** Undefined when the file holds no record of it (a participant's presumed abort, a read-only vote). */
  readonly decision: Decision | undefined
}

/** How many finished transactions `inspect` lists unless told otherwise (`--recent`). */
export const DEFAULT_RECENT = 20

/**
 * Builds the report from the frames of a log file, in file order (what `decodeLog` returns), and
 * `tailBytes`, the bytes after the last whole frame. Unfinished transactions are read from the
 * live records, as a restart would recover them; finished ones from every frame still in the file.
 */
export function inspectLog(
  entries: readonly LogEntry[],
  tailBytes: number,
  recent: number = DEFAULT_RECENT,
): InspectReport {
  const { records } = replayEntries(entries)
  const state = unfinished(records)
  const finished = finishedTransactions(entries)
  return {
    owner: ownerOf(records),
    frames: entries.length,
    liveRecords: records.length,
    tailBytes,
    ...state,
    recent: recent > 0 ? finished.slice(-recent) : [],
    finished: finished.length,
  }
}

/** Transaction records only: not the incarnation records and their ends (reserved ids start with `~`). */
function isReserved(record: LogRecord): boolean {
  return record.txId.startsWith('~')
}

function ownerOf(records: readonly LogRecord[]): LogOwner | undefined {
  let owner: LogOwner | undefined
  for (const record of records) {
    if (record.type === 'incarnation' && (owner === undefined || record.n > owner.life))
      owner = { node: record.node, role: record.role, life: record.n }
  }
  return owner
}

/** The same reading of a log as the cores' `recover`, without acting on it. */
function unfinished(records: readonly LogRecord[]) {
  const commits = new Map<TxId, readonly NodeId[]>()
  const prepared = new Map<TxId, Extract<LogRecord, { type: 'prepared' }>>()
  const outcomes = new Map<TxId, Extract<LogRecord, { type: 'outcome' }>>()
  const ended = new Set<TxId>()
  for (const record of records) {
    if (isReserved(record)) continue
    if (record.type === 'commit') commits.set(record.txId, record.participants)
    else if (record.type === 'prepared') prepared.set(record.txId, record)
    else if (record.type === 'outcome') outcomes.set(record.txId, record)
    else if (record.type === 'end') ended.add(record.txId)
  }
  const committing: CommittingTransaction[] = []
  for (const [txId, participants] of commits) if (!ended.has(txId)) committing.push({ txId, participants })
  const inDoubt: InDoubtTransaction[] = []
  const applying: ApplyingTransaction[] = []
  const heuristic: HeuristicTransaction[] = []
  // An outcome with no prepared record is an abort remembered before any prepare: nothing to do.
  for (const [txId, { coordinator, participants, onePhase }] of prepared) {
    if (ended.has(txId)) continue
    const outcome = outcomes.get(txId)
    if (outcome === undefined) inDoubt.push({ txId, coordinator, participants, onePhase })
    else if (outcome.heuristic !== undefined)
      heuristic.push({ txId, decision: outcome.decision, reason: outcome.heuristic })
    else applying.push({ txId, decision: outcome.decision })
  }
  return { committing, inDoubt, applying, heuristic }
}

/** Every transaction with an `end` frame in the file, in the order they ended, with the decision the file shows. */
function finishedTransactions(entries: readonly LogEntry[]): FinishedTransaction[] {
  const decisions = new Map<TxId, Decision>()
  const finished = new Map<TxId, FinishedTransaction>()
  for (const entry of entries) {
    if (entry.type !== 'record' || isReserved(entry.record)) continue
    const record = entry.record
    if (record.type === 'commit') decisions.set(record.txId, 'commit')
    else if (record.type === 'outcome') decisions.set(record.txId, record.decision)
    else if (record.type === 'end') {
      finished.delete(record.txId)
      finished.set(record.txId, { txId: record.txId, decision: decisions.get(record.txId) })
    }
  }
  return [...finished.values()]
}
