import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const IV = 12;
const TAG = 16;
/** bytes sealing adds to a body (IV and tag): a stored body is this much longer than the one sent */
export const SEALING_OVERHEAD = IV + TAG;

/**
 * Encrypts stored message bodies at rest (P2) with AES-256-GCM. The key lives
 * in the data folder, mode 0600, made on first start; a key open to other users is refused
 * before we get here (store/data-folder.ts), not quietly tightened: it may have been read.
 */
export class MessageCipher {
  private constructor(private readonly key: Buffer) {}

  static loadOrCreate(dataDir: string): MessageCipher {
    const file = path.join(dataDir, 'message-store.key');
    if (!existsSync(file)) {
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 256-bit key`);
    return new MessageCipher(key);
  }

  /** iv || tag || ciphertext; `aad` binds the ciphertext to its recipient. */
  encrypt(plain: Buffer, aad: string): Buffer {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }

  decrypt(sealed: Buffer, aad: string): Buffer {
    const d = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(sealed.subarray(IV, IV + TAG));
    return Buffer.concat([d.update(sealed.subarray(IV + TAG)), d.final()]);
  }
}
