// Changing the password without losing anything (docs/CRYPTO.md section 4): the new KDF salt
// is derived from the current keys, every vault not yet under the new key is re-encrypted
// and replaced with If-Match on the ETag it was read at, and only then the server is told.
// A run cut short anywhere loses nothing, and running it again with the same two passwords
// finishes the job.
import { equal, fromBase64, toBase64 } from "./bytes.js";
import { type Client, DEFAULT_ITERATIONS, vaultPath } from "./client.js";
import { Keys, keyIdOf } from "./crypto.js";
import { uploadResumable } from "./resumable.js";
import type { UploadStore } from "./store.js";
import type { KdfParams } from "./verify.js";
import { KDF } from "./verify.js";

/** Vaults at least this large are re-encrypted through a resumable upload. */
export const RESUMABLE_ABOVE = 8 * 1024 * 1024;

/** What a password change needs. */
export interface PasswordChange {
  username: string;
  currentPassword: string;
  newPassword: string;
  /** The account's current KDF parameters (pinned). */
  current: KdfParams;
  /** Where resumable re-uploads keep their state. */
  store: UploadStore;
  /** Vaults done out of all, after each. */
  onProgress?: (done: number, all: number) => void;
}

/** Runs a password change with `client` logged in; returns the new keys and parameters to pin. */
export async function changePassword(client: Client, change: PasswordChange): Promise<{ keys: Keys; kdf: KdfParams }> {
  const old = await Keys.derive(change.username, change.currentPassword, change.current.salt, change.current.iterations);
  const iterations = Math.max(change.current.iterations, DEFAULT_ITERATIONS);
  const kdf: KdfParams = { kdf: KDF, iterations, salt: await old.nextKdfSalt() };
  const fresh = await Keys.derive(change.username, change.newPassword, kdf.salt, iterations);
  const vaults = await client.list();
  let done = 0;
  for (const vault of vaults) {
    const meta = (await (await client.request("GET", vaultPath(vault.vault_id))).json()) as { salt: string };
    if (!equal(keyIdOf(fromBase64(meta.salt)), fresh.keyId)) {
      const { stream, etag } = await client.getStream(old, vault.vault_id);
      const plaintext = await new Response(stream).blob();
      if (plaintext.size >= RESUMABLE_ABOVE) {
        await uploadResumable(client, fresh, {
          owner: change.username,
          vaultId: vault.vault_id,
          file: plaintext,
          precondition: { etag },
          store: change.store,
        });
      } else {
        await client.put(fresh, vault.vault_id, new Uint8Array(await plaintext.arrayBuffer()), { etag });
      }
    }
    change.onProgress?.(++done, vaults.length);
  }
  await client.request("PUT", "/api/v1/auth/credentials", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      current_auth_hash: toBase64(old.authHash),
      new_auth_hash: toBase64(fresh.authHash),
      new_salt: toBase64(kdf.salt),
      iterations,
    }),
  });
  return { keys: fresh, kdf };
}
