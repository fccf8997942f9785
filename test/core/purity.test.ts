import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { importSpecifiers, impurities, stripComments } from './purity.js'

/**
 * STYLE habit 1: the core is a pure function. Nothing in src/core reads a clock, draws
 * Math.random, awaits, arms a timer or imports anything but its own siblings (no `node:`, no
 * runtime, no adapters, no packages). Comments may mention these words; code may not.
 */

const CORE_DIR = fileURLToPath(new URL('../../src/core/', import.meta.url))

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

describe('the core is pure', () => {
  const files = filesUnder(CORE_DIR)

  test('src/core holds the modules this test is about', () => {
    const names = files.map((file) => relative(CORE_DIR, file))
    expect(names).toEqual(
      expect.arrayContaining(['coordinator.ts', 'participant.ts', 'messages.ts', 'index.ts']),
    )
  })

  test.each(files.map((file) => [relative(CORE_DIR, file), file]))(
    'src/core/%s does not read the clock, draw randomness, await, schedule or import outside src/core',
    (_name, file) => {
      expect(impurities(readFileSync(file, 'utf8'))).toEqual([])
    },
  )
})

describe('the purity checker can fail', () => {
  test('it reports every kind of impurity in a deliberately impure module', () => {
    const impure = [
      "import { readFile } from 'node:fs'",
      "import { Clock } from '../runtime/interfaces.js'",
      "import { MemoryLog } from '../adapters/memory-log.js'",
      "import pRetry from 'p-retry'",
      "export * from '../index.js'",
      "import 'side-effect'",
      'const t = Date.now()',
      'const r = Math.random()',
      'const p = performance.now()',
      'setTimeout(() => {}, 1)',
      'setInterval(() => {}, 1)',
      'async function f() { await g() }',
      'const q: Promise<void> = Promise.resolve()',
      "const lazy = () => import('node:crypto')",
    ].join('\n')
    const found = impurities(impure).join('\n')
    for (const expected of [
      "imports 'node:fs'",
      "imports '../runtime/interfaces.js'",
      "imports '../adapters/memory-log.js'",
      "imports 'p-retry'",
      "imports '../index.js'",
      "imports 'side-effect'",
      "imports 'node:crypto'",
      '`Date`',
      '`Math.random`',
      '`performance.now`',
      '`setTimeout`',
      '`setInterval`',
      '`await`',
      '`async`',
      '`Promise`',
    ]) {
      expect(found).toContain(expected)
    }
  })

  test('it accepts sibling imports, and the forbidden words in comments and strings', () => {
    const pure = [
      "import { backoffDelayMs } from './backoff.js'",
      "import type { Message } from './messages.js'",
      "export * from './records.js'",
      '/** Never awaits, never calls `Math.random`, never reads `Date`. */',
      "// await setTimeout(Promise) — words in a comment are fine, even with 'quotes' and // slashes",
      "const url = 'https://example.com/// not a comment'",
      "const word = 'Date and Promise in a string are data, not calls'",
      'const update = 1 // Update, awaited and Dates are other words',
    ].join('\n')
    expect(impurities(pure)).toEqual([])
  })

  test('a word inside a string is not an import', () => {
    expect(importSpecifiers("const a = { from: read.id('from'), to: read.id('to') }")).toEqual([])
    expect(importSpecifiers('import { a } from \'./a.js\'\nimport type { B } from "./b.js"')).toEqual([
      './a.js',
      './b.js',
    ])
    expect(impurities('const m = import(name)')).toEqual([
      "imports '<computed import()>': only sibling modules ('./…') are allowed",
    ])
  })

  test('comment stripping keeps line numbers and strings', () => {
    expect(stripComments("a /* x\ny */ b // c\n'// d'")).toBe("a \n b \n'// d'")
  })
})
