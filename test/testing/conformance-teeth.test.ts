/**
 * The DurableLog conformance suite has teeth: run over deliberately broken logs
 * (test/fixtures/broken-logs.teeth.ts, in a vitest process of its own), each fails the tests that
 * name its defect.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')

it('the DurableLog conformance suite fails each broken log on the test that names its defect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twopc-teeth-'))
  const output = join(dir, 'results.json')
  try {
    const vitest = join(root, 'node_modules', '.bin', 'vitest')
    const args = [
      'run',
      '--config',
      'test/fixtures/vitest.teeth.config.ts',
      '--reporter=json',
      `--outputFile=${output}`,
    ]
    // It must fail (exit 1): only the results tell whether it failed for the right reasons.
    await promisify(execFile)(vitest, args, { cwd: root }).catch(() => undefined)
    const results = JSON.parse(readFileSync(output, 'utf8')) as {
      testResults: {
        assertionResults: {
          ancestorTitles: string[]
          title: string
          status: string
          failureMessages: string[]
        }[]
      }[]
    }
    const failed = new Map<string, string[]>() // broken log → the tests it failed
    for (const file of results.testResults)
      for (const test of file.assertionResults) {
        if (test.status !== 'failed') continue
        // Failed by an assertion of the suite, not by a crash of the fixture (a TypeError…).
        expect(test.failureMessages.join('\n'), test.title).toMatch(/^AssertionError/)
        const log = (test.ancestorTitles.at(-1) ?? '').replace('DurableLog conformance: ', '')
        failed.set(log, [...(failed.get(log) ?? []), test.title])
      }
    expect(failed.get('second load() drops the first record')).toEqual([
      'load() called again returns the same records (a resource may read them before the node)',
    ])
    expect(failed.get('load() returns the records in reverse order')).toContain(
      'many concurrent appends load back in call order',
    )
    expect(failed.get('append() resolves without storing anything')).toContain(
      'every record type loads back unchanged after a restart',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 120_000)
