// The page's session over the SDK: one logged-in account, its keys in memory only, its KDF
// parameters pinned in localStorage (public values: they make a later login refuse weaker
// or swapped parameters), its pending uploads in IndexedDB.
import {
  ApiError, Client, ConflictError, IndexedDbUploadStore, type KdfParams, type Keys, RESUMABLE_ABOVE, changePassword,
  fromBase64, toBase64, uploadResumable,
} from "@blindvault/client";

/** A file as the list shows it. */
export interface Item {
  id: string;
  /** Ciphertext bytes. */
  size: number;
  updated: string;
  etag: string;
}

/** An upload that stopped before it committed. */
export interface Interrupted {
  name: string;
  size: number;
  fraction: number;
}

const store = new IndexedDbUploadStore();

function pinKey(username: string): string {
  return `blindvault.kdf.${username.toLowerCase()}`;
}

function loadPin(username: string): KdfParams[] {
  const saved = localStorage.getItem(pinKey(username));
  if (!saved) return [];
  const { kdf, iterations, salt } = JSON.parse(saved) as { kdf: string; iterations: number; salt: string };
  return [{ kdf, iterations, salt: fromBase64(salt) }];
}

function savePin(username: string, kdf: KdfParams): void {
  localStorage.setItem(pinKey(username), JSON.stringify({ kdf: kdf.kdf, iterations: kdf.iterations, salt: toBase64(kdf.salt) }));
}

/** Vault ids are `[A-Za-z0-9._-]{1,128}`: a file name is made to fit. */
export function vaultIdFor(name: string): string {
  const id = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 128);
  return id === "" || id === "." || id === ".." ? `file${id}` : id;
}

/** Whether an error is another device's write winning a race. */
export function isConflict(error: unknown): boolean {
  return error instanceof ConflictError;
}

/** What to tell a person about an error. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "invalid_credentials":
        return "Wrong username or password.";
      case "username_taken":
        return "That username is taken.";
      case "rate_limited":
        return "Too many failed attempts: wait a few minutes and try again.";
      case "quota_exceeded":
        return "This would go over your storage quota.";
      default:
        return `The server refused: ${error.detail}`;
    }
  }
  if (error instanceof DOMException && error.name === "AbortError") return "Cancelled.";
  return error instanceof Error ? error.message : String(error);
}

/** One logged-in account. */
export class Session {
  private constructor(
    private readonly client: Client,
    /** The normalised username. */
    readonly username: string,
    private keys: Keys,
    private kdf: KdfParams,
  ) {}

  /** Creates an account and logs in. */
  static async register(base: string, username: string, password: string): Promise<Session> {
    const client = new Client(base);
    const user = username.toLowerCase();
    const { keys, kdf } = await client.register(user, password);
    savePin(user, kdf);
    return new Session(client, user, keys, kdf);
  }

  /** Logs in, checking the server's KDF parameters against the ones pinned on this browser. */
  static async login(base: string, username: string, password: string): Promise<Session> {
    const client = new Client(base);
    const user = username.toLowerCase();
    const { keys, kdf } = await client.login(user, password, loadPin(user));
    savePin(user, kdf);
    return new Session(client, user, keys, kdf);
  }

  /** Every file. */
  async list(): Promise<Item[]> {
    return (await this.client.list()).map((v) => ({ id: v.vault_id, size: v.size, updated: v.updated_at, etag: v.etag }));
  }

  /** Encrypts and stores `file` as vault `id`: a replace of `etag`, or a create when null. */
  async upload(id: string, file: File, etag: string | null, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void> {
    const precondition = etag === null ? { absent: true as const } : { etag };
    const pending = (await store.list(this.username)).find((p) => p.vaultId === id && p.name === file.name && p.size === file.size);
    if (file.size >= RESUMABLE_ABOVE || pending) {
      await uploadResumable(this.client, this.keys, { owner: this.username, vaultId: id, file, precondition, store, onProgress, signal });
    } else {
      await this.client.put(this.keys, id, new Uint8Array(await file.arrayBuffer()), precondition);
      onProgress(1);
    }
  }

  /** Uploads that stopped before committing (a reload, a closed tab). */
  async interrupted(): Promise<Interrupted[]> {
    return (await store.list(this.username)).map((p) => ({
      name: p.name,
      size: p.size,
      fraction: p.size > 0 ? Math.min(1, p.acknowledged / (p.size + 16 * Math.ceil(p.size / 65_536))) : 0,
    }));
  }

  /** A file's plaintext as a stream, and its size. */
  async download(id: string): Promise<{ stream: ReadableStream<Uint8Array>; size: number }> {
    const { stream, size } = await this.client.getStream(this.keys, id);
    return { stream, size };
  }

  /** Deletes a file if it is still at `etag`. */
  async remove(id: string, etag: string): Promise<void> {
    await this.client.delete(id, etag);
  }

  /** Re-encrypts everything under the new password, then switches the account to it. */
  async changePassword(current: string, next: string, onProgress: (fraction: number) => void): Promise<void> {
    const { keys, kdf } = await changePassword(this.client, {
      username: this.username,
      currentPassword: current,
      newPassword: next,
      current: this.kdf,
      store,
      onProgress: (done, all) => onProgress(all > 0 ? done / all : 1),
    });
    this.keys = keys;
    this.kdf = kdf;
    savePin(this.username, kdf);
  }

  /** Ends the session on the server. */
  async logout(): Promise<void> {
    await this.client.logout();
  }
}
