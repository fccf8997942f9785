/**
 * The purity checker of the core (STYLE habit 1): nothing in src/core reads a clock, draws
 * Math.random, awaits, arms a timer or imports anything but its own siblings (no `node:`, no
 * runtime, no adapters, no packages). Comments and string contents may mention these words; code
 * may not. Used by purity.test.ts, which also shows that it can fail.
 */

/** Forbidden in code, each with why. Matched on whole words, after comments are removed. */
export const FORBIDDEN: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bDate\b/, '`Date` reads the clock'],
  [/\bMath\.random\b/, '`Math.random`: randomness must be injected'],
  [/\bperformance\.now\b/, '`performance.now` reads the clock'],
  [/\bsetTimeout\b/, '`setTimeout`: time arrives as a timer input'],
  [/\bsetInterval\b/, '`setInterval`: time arrives as a timer input'],
  [/\bsetImmediate\b/, '`setImmediate` schedules work'],
  [/\bqueueMicrotask\b/, '`queueMicrotask` schedules work'],
  [/\bawait\b/, '`await`: the core is synchronous'],
  [/\basync\s/, '`async`: the core is synchronous'],
  [/\bPromise\b/, '`Promise`: the core is synchronous'],
  [/\bprocess\./, '`process` is a Node global'],
  [/\brequire\s*\(/, '`require` loads modules'],
]

/**
 * Removes comments, keeping string and template literals (so that `'//'` inside a string does not
 * start a comment) and line breaks (so that line numbers stay right).
 */
export function stripComments(source: string): string {
  let out = ''
  let i = 0
  while (i < source.length) {
    const c = source[i]
    const next = source[i + 1]
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++
    } else if (c === '/' && next === '*') {
      i += 2
      while (i < source.length && !(source[i] === '*' && source[i + 1] === '/')) {
        if (source[i] === '\n') out += '\n'
        i++
      }
      i += 2
    } else if (c === "'" || c === '"' || c === '`') {
      out += c
      i++
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\') {
          out += source[i]
          i++
        }
        out += source[i] ?? ''
        i++
      }
      out += c
      i++
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Replaces every string and template literal by a numbered placeholder `"#n"`, returning the literals' contents. */
export function maskStrings(code: string): { masked: string; strings: string[] } {
  const strings: string[] = []
  const masked = code.replace(/(['"`])((?:\\.|(?!\1)[^\\])*)\1/g, (_match, _quote, content: string) => {
    strings.push(content)
    return `"#${strings.length - 1}"`
  })
  return { masked, strings }
}

/** Every module specifier the code imports or re-exports (static, dynamic or side-effect). */
export function importSpecifiers(code: string): string[] {
  const { masked, strings } = maskStrings(code)
  const specifiers: string[] = []
  // `from "#n"` (import … from, export … from), `import "#n"` (side effect), `import("#n")` (dynamic)
  for (const match of masked.matchAll(/\b(?:from|import)\s*\(?\s*"#(\d+)"/g)) {
    specifiers.push(strings[Number(match[1])] ?? '')
  }
  // A dynamic import of a computed specifier cannot be checked: forbid it outright.
  if (/\bimport\s*\(\s*[^"\s]/.test(masked)) specifiers.push('<computed import()>')
  return specifiers
}

/** What makes `source` impure, one line per problem; empty when it is pure. */
export function impurities(source: string): string[] {
  const code = stripComments(source)
  const problems: string[] = []
  maskStrings(code)
    .masked.split('\n')
    .forEach((line, index) => {
      for (const [pattern, why] of FORBIDDEN) {
        if (pattern.test(line)) problems.push(`line ${index + 1}: ${why}: ${line.trim()}`)
      }
    })
  for (const specifier of importSpecifiers(code)) {
    if (!specifier.startsWith('./'))
      problems.push(`imports '${specifier}': only sibling modules ('./…') are allowed`)
  }
  return problems
}
