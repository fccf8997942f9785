import { type FileHandle, open, rm } from 'node:fs/promises'

/* Small file-system helpers FileLog's durability rests on: whole reads and writes, directory fsync. */

export async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await rm(path)
    return true
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false
    throw error
  }
}

/** Creates (or empties) `path`, writes `bytes` and returns the open handle, not yet synced. */
export async function createFile(path: string, bytes: Buffer): Promise<FileHandle> {
  const handle = await open(path, 'w+')
  try {
    await writeAll(handle, bytes, 0)
    return handle
  } catch (error) {
    await handle.close().catch(() => {})
    throw error
  }
}

/** fsync of a file does not make its name durable; fsync of its directory does (POSIX). */
export async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return // a directory cannot be opened there; NTFS journals names
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function readAll(handle: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return buffer.subarray(0, done)
}

export async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done)
    done += bytesWritten
  }
}

export function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code
}
