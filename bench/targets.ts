import { cell } from './plan.js'
import type { CellResult, CellSpec, MemoryResult, TargetResult } from './results.js'

/** A target on a pair of cells: the library's figure ÷ the baseline's (or the library's alone). */
export interface CellTarget {
  readonly id: string
  readonly description: string
  readonly library: CellSpec
  /** `undefined` for an absolute bound on the library's figure. */
  readonly baseline: CellSpec | undefined
  readonly metric: (result: CellResult) => number
  readonly bound: TargetResult['bound']
}

const tps = (result: CellResult) => result.tps
const decisionP50 = (result: CellResult) => result.decisionMs.p50

const naiveDurable = (c: number) => cell({ system: 'naive-durable', log: 'file-group', c })
const naiveTcp = (c: number) => cell({ system: 'naive-tcp', transport: 'tcp', c })

/** The targets on cells, all at N=2 with every participant voting yes. */
export const CELL_TARGETS: readonly CellTarget[] = [
  {
    id: 'memory-tps',
    description: 'in memory, C=100: tps ≥ 0.5× naive 2PC',
    library: cell({ c: 100 }),
    baseline: cell({ system: 'naive-memory', c: 100 }),
    metric: tps,
    bound: { op: '>=', value: 0.5 },
  },
  {
    id: 'file-group-tps',
    description: 'FileLog group commit, C=1000: tps ≥ 0.5× naive durable 2PC',
    library: cell({ log: 'file-group', c: 1000 }),
    baseline: naiveDurable(1000),
    metric: tps,
    bound: { op: '>=', value: 0.5 },
  },
  {
    id: 'file-group-fsyncs',
    description: 'FileLog group commit, C=1000: ≤ 0.05 fsyncs per transaction',
    library: cell({ log: 'file-group', c: 1000 }),
    baseline: undefined,
    metric: (result) => result.fsyncsPerTx ?? Number.NaN,
    bound: { op: '<=', value: 0.05 },
  },
  {
    id: 'file-group-c1-p50',
    description: 'FileLog group commit, C=1: decision p50 ≤ 1.3× naive durable 2PC',
    library: cell({ log: 'file-group', c: 1 }),
    baseline: naiveDurable(1),
    metric: decisionP50,
    bound: { op: '<=', value: 1.3 },
  },
  {
    id: 'tcp-tps',
    description: 'TCP, C=1000: tps ≥ 0.5× coalesced naive TCP 2PC',
    library: cell({ transport: 'tcp', c: 1000 }),
    baseline: naiveTcp(1000),
    metric: tps,
    bound: { op: '>=', value: 0.5 },
  },
  {
    id: 'tcp-c1-p50',
    description: 'TCP, C=1: decision p50 ≤ 1.5× coalesced naive TCP 2PC',
    library: cell({ transport: 'tcp', c: 1 }),
    baseline: naiveTcp(1),
    metric: decisionP50,
    bound: { op: '<=', value: 1.5 },
  },
]

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

function judge(value: number, bound: TargetResult['bound']): boolean {
  return bound.op === '>=' ? value >= bound.value : value <= bound.value
}

/** Evaluates a cell target on the runs of its cells, round by round (run `i` of each is round `i`). */
export function evaluateCellTarget(
  target: CellTarget,
  library: readonly CellResult[],
  baseline: readonly CellResult[],
): TargetResult {
  const libraryFigures = library.map(target.metric)
  const baselineFigures = baseline.map(target.metric)
  const rounds =
    target.baseline === undefined
      ? libraryFigures
      : libraryFigures.map((figure, i) => figure / (baselineFigures[i] as number))
  const ratio = median(rounds)
  return {
    id: target.id,
    description: target.description,
    library: median(libraryFigures),
    baseline: target.baseline === undefined ? null : median(baselineFigures),
    ratio,
    rounds,
    bound: target.bound,
    pass: judge(ratio, target.bound),
  }
}

/** The memory targets: heap per transaction in flight ≤ 2× naive; heap back within 10 % after draining. */
export function memoryTargets(memory: MemoryResult): TargetResult[] {
  const { library, naive } = memory.bytesPerInFlightTx
  const perTx = library / naive
  const drained = memory.drain.endBytes / memory.drain.startBytes
  return [
    {
      id: 'memory-per-in-flight-tx',
      description: 'heap per transaction in flight ≤ 2× naive 2PC',
      library,
      baseline: naive,
      ratio: perTx,
      rounds: [perTx],
      bound: { op: '<=', value: 2 },
      pass: judge(perTx, { op: '<=', value: 2 }),
    },
    {
      id: 'memory-drained',
      description: `heap after ${memory.drain.transactions.toLocaleString('en-US')} transactions ≤ 1.1× start`,
      library: memory.drain.endBytes,
      baseline: memory.drain.startBytes,
      ratio: drained,
      rounds: [drained],
      bound: { op: '<=', value: 1.1 },
      pass: judge(drained, { op: '<=', value: 1.1 }),
    },
  ]
}
