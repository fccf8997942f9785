import { execFileSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import packageJson from '../../package.json' with { type: 'json' }

/**
 * The package as a consumer gets it: built, packed with `npm pack`, installed from the tarball
 * into a fresh project, then imported from ESM, CommonJS and type-checked TypeScript, and bundled
 * for browsers.
 */
const root = resolve(import.meta.dirname, '../..')
const subpaths = Object.keys(packageJson.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? 'twopc' : `twopc/${key.slice(2)}`))
/** Runs a command; on failure, the error carries what it printed, so the test report shows why. */
const run = (command: string, args: string[], cwd: string): string => {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`)
  }
}

describe('the packed package, installed into a fresh project', () => {
  const project = mkdtempSync(join(tmpdir(), 'twopc-consumer-'))

  beforeAll(() => {
    run('npx', ['tsc', '-p', 'tsconfig.build.json'], root)
    const tarball =
      run('npm', ['pack', '--silent', '--pack-destination', project], root).trim().split('\n').at(-1) ?? ''
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    )
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(project, tarball)], project)
    // Optional peers (pg for twopc/postgres, vitest for the conformance suites) come from this checkout.
    for (const peer of ['pg', 'vitest', '@types/pg', '@types/node']) {
      mkdirSync(join(project, 'node_modules', peer, '..'), { recursive: true })
      symlinkSync(join(root, 'node_modules', peer), join(project, 'node_modules', peer), 'dir')
    }
  }, 180_000)
  afterAll(() => rmSync(project, { recursive: true, force: true }))

  it('ships only dist, the README and package.json', () => {
    const installed = readdirSync(join(project, 'node_modules', 'twopc')).sort()
    expect(installed).toEqual(['README.md', 'dist', 'package.json'])
  })

  it('imports every subpath from an ESM module', () => {
    const lines = subpaths.map((path, i) => `import * as m${i} from '${path}'`)
    lines.push(
      `console.log(JSON.stringify([${subpaths.map((_, i) => `Object.keys(m${i}).length`).join(', ')}]))`,
    )
    writeFileSync(join(project, 'esm.mjs'), lines.join('\n'))
    const counts = JSON.parse(run('node', ['esm.mjs'], project)) as number[]
    expect(counts.every((count) => count > 0)).toBe(true)
  })

  it('requires every subpath from a CommonJS module (require of ESM, Node ≥ 20.19)', () => {
    const lines = subpaths.map((path) => `console.log(Object.keys(require('${path}')).length)`)
    writeFileSync(join(project, 'cjs.cjs'), lines.join('\n'))
    const counts = run('node', ['--no-warnings', 'cjs.cjs'], project).trim().split('\n').map(Number)
    expect(counts).toHaveLength(subpaths.length)
    expect(counts.every((count) => count > 0)).toBe(true)
  })

  /** Type-checks `source` as a strict TypeScript module of the consumer project, in its own directory. */
  const typeCheck = (name: string, source: string, resolution: 'node16' | 'bundler'): void => {
    const dir = join(project, name)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'consumer.ts'), source)
    const module = resolution === 'node16' ? 'node16' : 'esnext'
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module,
          moduleResolution: resolution,
          target: 'es2022',
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    )
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], dir)
  }

  it.each(['node16', 'bundler'] as const)(
    'type-checks a TypeScript consumer with moduleResolution %s',
    (resolution) => {
      const source = [
        "import { Coordinator, MemoryLog, MemoryNetwork, Participant, type CommitOutcome } from 'twopc'",
        "import { CoordinatorCore, parseMessage } from 'twopc/core'",
        "import { FileLog } from 'twopc/node'",
        "import { sequenceDiagram } from 'twopc/testing'",
        'const net = new MemoryNetwork()',
        "const coordinator = new Coordinator({ id: 'c', transport: net.connect('c'), log: new MemoryLog() })",
        'const outcome: Promise<CommitOutcome> = coordinator.commit({ participants: { p: { n: 1 } } })',
        "const core = new CoordinatorCore({ id: 'c', random: () => 0.5 })",
        'export { outcome, core, Participant, FileLog, parseMessage, sequenceDiagram }',
      ].join('\n')
      typeCheck(`ts-${resolution}`, source, resolution)
    },
  )

  it("type-checks the README's Quick start exactly as printed (strict)", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('\n## Quick start\n'))
    const block = /```ts\n([\s\S]*?)\n```/.exec(section)?.[1]
    expect(block).toContain("from 'twopc'")
    typeCheck('ts-quick-start', `${block}\nexport {}\n`, 'node16')
  })

  it('bundles the core and in-memory parts for the browser without any node: import', async () => {
    writeFileSync(
      join(project, 'browser.mjs'),
      [
        "import { Coordinator, Participant, MemoryNetwork, MemoryLog } from 'twopc'",
        "import { CoordinatorCore, ParticipantCore } from 'twopc/core'",
        'export { Coordinator, Participant, MemoryNetwork, MemoryLog, CoordinatorCore, ParticipantCore }',
      ].join('\n'),
    )
    const result = await build({
      absWorkingDir: project,
      entryPoints: ['browser.mjs'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter((input) => input.startsWith('node:'))).toEqual([])
    expect(result.outputFiles[0]?.text).toContain('prepare-timeout')
  })
})
