import { BankTables } from './bank.js'
import { BANK_A, BANK_B } from './pg-env.js'

/** Accounts per bank in the money test, and what each holds at the start. */
export const ACCOUNTS = 8
export const OPENING_BALANCE = 100

/** The money test's banks: database, tables and gid prefix of each. */
export const MONEY_BANKS = {
  'bank-a': { database: BANK_A, tables: new BankTables('money', 'money-a') },
  'bank-b': { database: BANK_B, tables: new BankTables('money', 'money-b') },
} as const
