import type { Json, Vote } from '../../src/index.js'

/** The naive TCP 2PC's messages. Each participant has its own connection, so none names its sender or recipient. */
export type NaiveMessage =
  | { readonly type: 'prepare'; readonly txId: number; readonly payload: Json }
  | { readonly type: 'vote'; readonly txId: number; readonly vote: Vote }
  | { readonly type: 'commit' | 'abort' | 'ack'; readonly txId: number }
