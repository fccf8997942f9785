import type { Message } from '../core/messages.js'

/** One line of a recorded exchange: a message, or a note about a node (a crash, a decision). */
export type TraceEntry =
  | { readonly kind: 'message'; readonly message: Message; readonly lost?: boolean }
  | { readonly kind: 'note'; readonly node: string; readonly text: string }

function label(message: Message): string {
  switch (message.type) {
    case 'prepare': {
      // A probe (bound to no life yet) and a one-phase request, as the simulators' traces name them.
      const kinds = [message.onePhase ? '1pc' : '', message.inc === 0 ? 'probe' : ''].filter(Boolean)
      return `prepare${kinds.length > 0 ? `(${kinds.join(',')})` : ''} ${JSON.stringify(message.payload)}`
    }
    case 'vote':
      // A refusal is a `no` that says "not for this life", not a vote against the transaction.
      return message.refused === undefined ? `vote ${message.vote}` : 'vote refused'
    case 'ack':
      return message.heuristic === undefined ? 'ack' : `ack (heuristic ${message.heuristic})`
    default:
      return message.type
  }
}

/** Mermaid treats `;` and `#` specially in message text; keep labels readable and safe. */
function mermaidSafe(text: string): string {
  return text.replace(/[;#]/g, ' ').replace(/\n/g, ' ')
}

/** Words Mermaid's sequence diagrams reserve, which a node id must not be written as. */
const KEYWORDS = new Set(
  [
    'participant actor as note over left right of end loop alt else opt option par par_over and rect',
    'critical break box autonumber activate deactivate title links link create destroy accTitle',
    'accDescr sequenceDiagram properties details',
  ]
    .join(' ')
    .toLowerCase()
    .split(' '),
)

/** An id Mermaid takes as is: word characters joined by single hyphens, none starting `-x` (an arrow). */
const PLAIN_ID = /^[A-Za-z0-9_]+(?:-(?![xX])[A-Za-z0-9_]+)*$/

/** How each node is named in the diagram: its id when Mermaid can take it as is, else an alias. */
function names(
  nodes: readonly string[],
): Map<string, { readonly ref: string; readonly declaration: string }> {
  const plain = (node: string) => PLAIN_ID.test(node) && !KEYWORDS.has(node.toLowerCase())
  const taken = new Set(nodes.filter(plain))
  let next = 0
  const alias = () => {
    do next += 1
    while (taken.has(`node${next}`))
    return `node${next}`
  }
  return new Map(
    nodes.map((node) => {
      if (plain(node)) return [node, { ref: node, declaration: `participant ${node}` }]
      const ref = alias()
      const shown = mermaidSafe(node)
        .replace(/[,:<>+]/g, ' ')
        .trim()
      return [
        node,
        { ref, declaration: shown === '' ? `participant ${ref}` : `participant ${ref} as ${shown}` },
      ]
    }),
  )
}

/**
 * Renders a recorded exchange as a Mermaid sequence diagram, so a person can see the rounds of a
 * transaction (or a simulator counterexample) instead of reading logs. Participants appear in the
 * order given, then in order of first appearance; an id Mermaid cannot take as is (a space, `;`, a
 * keyword such as `end`) is drawn through an alias. Lost messages are drawn as crossed arrows; a
 * probe `prepare` (bound to no life yet) and a refusal are labelled as such.
 *
 * @example
 * ```ts
 * const diagram = sequenceDiagram(entries, ['coord', 'bank-a', 'bank-b'])
 * writeFileSync('trace.md', '```mermaid\n' + diagram + '\n```\n')
 * ```
 */
export function sequenceDiagram(entries: readonly TraceEntry[], nodes: readonly string[] = []): string {
  const order = [...nodes]
  const see = (node: string) => {
    if (!order.includes(node)) order.push(node)
  }
  for (const entry of entries) {
    if (entry.kind === 'message') {
      see(entry.message.from)
      see(entry.message.to)
    } else {
      see(entry.node)
    }
  }
  const named = names(order)
  const ref = (node: string) => (named.get(node) as { readonly ref: string }).ref
  const lines = ['sequenceDiagram', ...[...named.values()].map(({ declaration }) => `  ${declaration}`)]
  for (const entry of entries) {
    if (entry.kind === 'note') {
      lines.push(`  Note over ${ref(entry.node)}: ${mermaidSafe(entry.text)}`)
    } else {
      const { message } = entry
      const arrow = entry.lost ? '-x' : '->>'
      lines.push(
        `  ${ref(message.from)}${arrow}${ref(message.to)}: ${mermaidSafe(`${message.txId} ${label(message)}`)}`,
      )
    }
  }
  return lines.join('\n')
}
