import type { CellTiming } from './cell.js'
import type { LogKind } from './library/logs.js'
import type { MemoryPlan } from './memory.js'
import type { OverloadPlan } from './overload.js'
import type { CellSpec, SystemKind, TransportKind } from './results.js'
import { MIXES, type Mix } from './workloads.js'

/** Everything one benchmark run does. */
export interface Plan {
  readonly name: 'full' | 'smoke'
  readonly cell: CellTiming
  /** Times each target's pair of cells runs, alternating library and baseline; ratios are medians over rounds. */
  readonly rounds: number
  /** The matrix (the targets' cells run in addition, `rounds` times). */
  readonly cells: readonly CellSpec[]
  /**
   * Participants per transaction of the CPU-scaling target's cells (twopc in memory, C=100); the
   * first is the reference the others are divided by.
   */
  readonly cpuNs: readonly number[]
  /** The overload cells (TCP on loopback at large C); `null` to skip them. */
  readonly overload: OverloadPlan | null
  /** Duration of each raw baseline. */
  readonly microMs: number
  readonly recovery: { readonly records: number; readonly inDoubt: number }
  readonly memory: MemoryPlan
}

/** A cell with the defaults of the matrix: twopc, in memory, all-commit, N=2. */
export function cell(overrides: Partial<CellSpec>): CellSpec {
  return {
    system: 'library',
    n: 2,
    c: 1,
    mix: 'all-commit',
    transport: 'memory',
    log: 'memory',
    ...overrides,
  }
}

const NS = [2, 4, 8, 16] as const
const CS = [1, 10, 100, 1000] as const

function product<T>(values: readonly T[], make: (value: T) => CellSpec[]): CellSpec[] {
  return values.flatMap(make)
}

/**
 * The full matrix: one axis at a time around N=2, in memory, all-commit (the full product, 432
 * cells, would take hours), plus the naive baselines at every C.
 * - N × C for twopc in memory;
 * - every mix × N at C=100;
 * - every transport × C at N=2 (and N=8 at C=100), memory log;
 * - every log × C at N=2, in memory — except one fsync per record at C=1000, whose first round
 *   alone would take 1000 × 2 fsyncs per participant (about 10 s at 5 ms each);
 * - TCP and HTTP on FileLog with group commit at C=1 and C=100;
 * - each naive baseline at every C, N=2.
 */
function fullMatrix(): CellSpec[] {
  const mixes = MIXES.filter((mix): mix is Mix => mix !== 'all-commit')
  const transports: TransportKind[] = ['tcp', 'http']
  const logs: LogKind[] = ['file-group', 'file-per-record']
  const naive: SystemKind[] = ['naive-memory', 'naive-memory-clone', 'naive-durable', 'naive-tcp']
  return [
    ...product(NS, (n) => CS.map((c) => cell({ n, c }))),
    ...product(mixes, (mix) => NS.map((n) => cell({ mix, n, c: 100 }))),
    ...product(transports, (transport) => [
      ...CS.map((c) => cell({ transport, c })),
      cell({ transport, n: 8, c: 100 }),
    ]),
    ...product(logs, (log) =>
      CS.filter((c) => log === 'file-group' || c < 1000).map((c) => cell({ log, c })),
    ),
    ...product(transports, (transport) => [1, 100].map((c) => cell({ transport, log: 'file-group', c }))),
    ...product(naive, (system) =>
      CS.map((c) =>
        cell({
          system,
          c,
          transport: system === 'naive-tcp' ? 'tcp' : 'memory',
          log: system === 'naive-durable' ? 'file-group' : 'memory',
        }),
      ),
    ),
  ]
}

/** `npm run bench`: the full matrix, three rounds of every target; about ten minutes on 2 cores. */
export const FULL: Plan = {
  name: 'full',
  cell: { warmupMs: 300, durationMs: 1_200 },
  rounds: 3,
  cells: fullMatrix(),
  cpuNs: NS,
  overload: { n: 3, cs: [1_000, 5_000, 20_000], timing: { warmupMs: 1_000, durationMs: 4_000 } },
  microMs: 1_500,
  recovery: { records: 100_000, inDoubt: 10_000 },
  memory: {
    inFlight: 10_000,
    transactions: 1_000_000,
    warmupTransactions: 20_000,
    rememberedTransactions: 10_000,
    steadyState: { small: 1_000, large: 100_000, transactions: 30_000, rounds: 3 },
  },
}

/**
 * `npm run bench:smoke`: one short round of everything, to keep the benchmark working (CI, under
 * 30 s) — except the overload cells (tens of seconds), and with the CPU-scaling target at N=2 and
 * N=4 only.
 */
export const SMOKE: Plan = {
  name: 'smoke',
  cell: { warmupMs: 150, durationMs: 400 },
  rounds: 1,
  cells: [
    ...MIXES.map((mix) => cell({ mix, n: 4, c: 10 })),
    cell({ log: 'file-per-record', c: 10 }),
    cell({ transport: 'http', c: 10 }),
    cell({ transport: 'tcp', log: 'file-group', c: 10 }),
  ],
  cpuNs: [2, 4],
  overload: null,
  microMs: 300,
  recovery: { records: 10_000, inDoubt: 1_000 },
  memory: {
    inFlight: 1_000,
    transactions: 10_000,
    warmupTransactions: 3_000,
    rememberedTransactions: 1_000,
    steadyState: { small: 100, large: 10_000, transactions: 3_000, rounds: 1 },
  },
}
