import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { ownsGid, txIdOfGid, validatePrefix } from '../../src/adapters/postgres-gid.js'
import { MAX_ID_LENGTH } from '../../src/core/types.js'
import { encodeGid, MAX_GID_BYTES, MAX_PREFIX_LENGTH } from '../../src/postgres.js'

const prefixes = fc.stringMatching(new RegExp(`^[a-z0-9_-]{1,${MAX_PREFIX_LENGTH}}$`))
const txIds = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '0', '-', ':', '.', "'", '#'),
    fc.string({ unit: 'grapheme', maxLength: 1 }),
  ),
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
})

describe('gids of prepared transactions', () => {
  it('keeps a plain transaction id readable', () => {
    expect(encodeGid('bank-a', '3f2c-9a1b:7')).toBe('bank-a:3f2c-9a1b:7')
  })

  it('hashes a transaction id with other characters', () => {
    expect(encodeGid('bank-a', "o'brien")).toMatch(/^bank-a#[0-9a-f]{64}$/)
  })

  test.prop([prefixes, txIds])(
    'fit in 199 bytes, need no quoting, and belong to their prefix only',
    (prefix, txId) => {
      const gid = encodeGid(prefix, txId)
      expect(Buffer.byteLength(gid, 'utf8')).toBeLessThanOrEqual(MAX_GID_BYTES)
      expect(gid).toMatch(/^[A-Za-z0-9._:#-]+$/)
      expect(ownsGid(prefix, gid)).toBe(true)
      expect(ownsGid(`${prefix}x`, gid)).toBe(false)
      const readable = txIdOfGid(prefix, gid)
      if (readable !== undefined) expect(readable).toBe(txId)
    },
  )

  test.prop([prefixes, txIds, txIds])('differ for different transactions', (prefix, a, b) => {
    fc.pre(a !== b)
    expect(encodeGid(prefix, a)).not.toBe(encodeGid(prefix, b))
  })

  it.each(['', 'Bank', 'bank a', 'bank:a', 'a'.repeat(MAX_PREFIX_LENGTH + 1), 7])(
    'rejects the prefix %j',
    (prefix) => {
      expect(() => validatePrefix(prefix)).toThrow(
        /Expected `prefix` to be 1 to 32 characters from \[a-z0-9_-\]/,
      )
    },
  )
})
