import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where the writers below open the files they fill. Unit tests put a disk that fills up (ENOSPC) here to
 * see what a full disk leaves behind; nothing else changes it.
 */
export const disk = { open };

/**
 * Write through a temp file in the same directory, flushed to disk, then renamed: a reader never sees
 * half a file, and a crash after the rename cannot leave an empty one.
 */
export async function writeFileAtomic(
  file: string,
  content: string | Buffer,
  options: { mode?: number } = {},
): Promise<void> {
  await replaceAtomically(file, async (temp) => {
    const handle = await disk.open(temp, 'w', options.mode ?? 0o666);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** Pieces are gathered up to this size before each write: few system calls, little memory. */
const WRITE_BATCH = 1 << 20;

/**
 * Write text given in pieces to a temp file beside `file`, flushed, and hand it to `place`, which
 * renames it over `file` or drops it (say, when `file` already holds the same bytes). The temp file
 * never outlives the call.
 */
export async function writeChunksThenPlace(
  file: string,
  chunks: Iterable<string>,
  place: (temp: string) => Promise<void>,
): Promise<void> {
  const temp = await tempBeside(file);
  try {
    const handle = await disk.open(temp, 'w', 0o666);
    try {
      let batch = '';
      for (const chunk of chunks) {
        batch += chunk;
        if (batch.length >= WRITE_BATCH) {
          await handle.write(batch);
          batch = '';
        }
      }
      if (batch) await handle.write(batch);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await place(temp);
  } finally {
    await rm(temp, { force: true });
  }
}

/** Copy source to file the same way: whole or not at all. */
export async function copyFileAtomic(source: string, file: string): Promise<void> {
  await replaceAtomically(file, async (temp) => {
    await copyFile(source, temp);
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** A fresh temp file name in file's directory (created if missing), hidden and unique. */
async function tempBeside(file: string): Promise<string> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  return path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
}

async function replaceAtomically(file: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const temp = await tempBeside(file);
  try {
    await fill(temp);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
