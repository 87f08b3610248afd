import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

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
    const handle = await open(temp, 'w', options.mode ?? 0o666);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
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

async function replaceAtomically(file: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fill(temp);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
