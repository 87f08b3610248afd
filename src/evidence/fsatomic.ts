import { randomBytes } from 'node:crypto';
import path from 'node:path';
import fs from 'fs-extra';

/** Write through a temp file in the same directory and rename, so a reader never sees half a file. */
export async function writeFileAtomic(file: string, content: string | Buffer): Promise<void> {
  await fs.ensureDir(path.dirname(file));
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.writeFile(temp, content);
    await fs.rename(temp, file);
  } catch (error) {
    await fs.remove(temp).catch(() => undefined);
    throw error;
  }
}
