import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import type { Report } from '../../bench/report.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `npm run bench:smoke`'s command with the report written to `out`; resolves with its stdout. */
function runSmoke(out: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', './bench/loader.mjs', 'bench/run.ts', '--smoke', '--out', out],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.once('error', reject)
    child.once('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`bench:smoke exited with ${code}:\n${stderr}`)),
    )
  })
}

const finite = (value: number) => Number.isFinite(value)

test('the smoke run prints every table and writes a well-formed report with exact counters', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'twopc-bench-smoke-'))
  try {
    const out = join(directory, 'smoke.json')
    const stdout = await runSmoke(out)
    const report = JSON.parse(await readFile(out, 'utf8')) as Report

    for (const heading of ['| target |', '| raw baseline |', '| cell |', '| recovery |', '| memory |'])
      expect(stdout).toContain(heading)
    expect(report.plan).toBe('smoke')
    expect(report.only).toBeNull()
    expect(report.machine.cores).toBeGreaterThan(0)

    expect(report.targets.map((target) => target.id)).toEqual([
      'file-group-tps',
      'file-group-c1000-p50',
      'file-group-c1-fsyncs',
      'file-group-c1-p50',
      'tcp-tps',
      'tcp-c1-p50',
      'memory-tps',
      'memory-tps-clone',
      'cpu-n4',
      'memory-per-in-flight-tx',
      'memory-drained',
      'memory-steady-state',
    ])
    for (const target of report.targets) {
      expect(finite(target.ratio), target.id).toBe(true)
      const { op, value } = target.bound
      expect(target.pass, target.id).toBe(
        op === '>=' ? target.ratio >= value : op === '<=' ? target.ratio <= value : target.ratio === value,
      )
      expect(stdout).toContain(target.description)
    }
    expect(report.overload).toEqual([])

    const systems = new Set(report.cells.flatMap(({ runs }) => runs.map((run) => run.spec.system)))
    expect([...systems].sort()).toEqual([
      'library',
      'naive-durable',
      'naive-memory',
      'naive-memory-clone',
      'naive-tcp',
    ])
    const library = report.cells.flatMap(({ runs }) => runs).filter((run) => run.spec.system === 'library')
    expect(new Set(library.map((run) => run.spec.transport))).toEqual(new Set(['memory', 'tcp', 'http']))
    expect(new Set(library.map((run) => run.spec.log))).toEqual(
      new Set(['memory', 'file-group', 'file-per-record']),
    )
    for (const { name, runs } of report.cells) {
      for (const run of runs) {
        expect(run.transactions, name).toBeGreaterThan(0)
        for (const value of [
          run.tps,
          run.decisionMs.p50,
          run.completionMs.p99,
          run.cpuUsPerTx,
          run.eventLoopDelayMs.p99,
        ])
          expect(finite(value), name).toBe(true)
        expect(run.fsyncsPerTx === null, name).toBe(run.spec.log === 'memory')
        const outcomes = Object.values(run.outcomes).reduce((sum, transactions) => sum + transactions, 0)
        expect(outcomes, name).toBe(run.spec.system === 'library' ? run.transactions : 0)
        if (run.spec.mix === 'all-commit') {
          expect(run.messagesPerTx, name).toBe(4 * run.spec.n)
          if (run.spec.system === 'library') expect(run.outcomes.commit, name).toBe(run.transactions)
          if (run.spec.system === 'library' || run.spec.system === 'naive-durable')
            expect(run.forcedWritesPerTx, name).toBe(2 * run.spec.n + 1)
        }
      }
    }

    expect(report.micro).toHaveLength(5)
    for (const micro of report.micro) expect(micro.opsPerSecond, micro.name).toBeGreaterThan(0)
    expect(report.recovery).toHaveLength(3)
    for (const recovery of report.recovery) expect(recovery.ms, recovery.name).toBeGreaterThan(0)
    expect(report.memory?.bytesPerInFlightTx.library).toBeGreaterThan(0)
    expect(report.memory?.drain.endBytes).toBeGreaterThan(0)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}, 180_000)
