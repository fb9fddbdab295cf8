// The page's session over the SDK: one logged-in account, its keys in memory only, its KDF
// parameters pinned in localStorage (public values: they make a later login refuse weaker
// or swapped parameters), its pending uploads in IndexedDB.
import {
  ApiError, Client, ConflictError, type Factors, IndexedDbUploadStore, type KdfParams, Keys, RESUMABLE_ABOVE,
  SecondFactorRequired, type SessionEntry, addSecurityKey, assertSecurityKey, beginTotp, changePassword,
  confirmTotp, endOtherSessions, endSession, factors, fromBase64, removeSecurityKey, removeTotp, sessions,
  toBase64, uploadResumable,
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
      case "invalid_second_factor":
        return "That code or key was not accepted (a code works once).";
      case "invalid_challenge":
        return "The login took too long or was already used: log in again.";
      case "account_disabled":
        return "This account is disabled: ask the server's operator.";
      case "invite_required":
      case "invalid_invite":
        return "This server needs a valid invite code to create an account.";
      default:
        return `The server refused: ${error.detail}`;
    }
  }
  if (error instanceof DOMException && error.name === "AbortError") return "Cancelled.";
  return error instanceof Error ? error.message : String(error);
}

/** A login waiting for its second factor. */
export interface PendingLogin {
  client: Client;
  username: string;
  /** What may answer: `totp`, `webauthn`, `recovery_code`. */
  factors: string[];
  challengeToken: string;
  webauthn: { publicKey: Record<string, unknown> } | null;
}

/** The name this browser's sessions show in the sessions list. */
function deviceName(): string {
  const agent = navigator.userAgent;
  const browser = /Firefox/.test(agent) ? "Firefox" : /Edg\//.test(agent) ? "Edge" : /Chrom/.test(agent) ? "Chromium" : /Safari/.test(agent) ? "Safari" : "a browser";
  return `Web vault in ${browser}`;
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

  /**
   * Logs in, checking the server's KDF parameters against the ones pinned on this browser; a
   * [`PendingLogin`] when the account has a second factor (see [`Session.finish`]).
   */
  static async login(base: string, username: string, password: string): Promise<Session | PendingLogin> {
    const client = new Client(base);
    const user = username.toLowerCase();
    try {
      const { keys, kdf } = await client.login(user, password, loadPin(user), deviceName());
      savePin(user, kdf);
      return new Session(client, user, keys, kdf);
    } catch (error) {
      if (!(error instanceof SecondFactorRequired)) throw error;
      const { factors: allowed, challengeToken, webauthn } = error.challenge;
      return { client, username: user, factors: allowed, challengeToken, webauthn };
    }
  }

  /** Completes a login with a code (TOTP or recovery) or, when `code` is null, a security key. */
  static async finish(pending: PendingLogin, code: string | null): Promise<Session> {
    const answer =
      code !== null
        ? { method: /^\d{6}$/.test(code.trim()) ? ("totp" as const) : ("recovery_code" as const), code: code.trim() }
        : { method: "webauthn" as const, credential: await assertSecurityKey(pending.webauthn ?? { publicKey: {} }) };
    const { keys, kdf } = await pending.client.completeLogin({ challengeToken: pending.challengeToken }, answer);
    savePin(pending.username, kdf);
    return new Session(pending.client, pending.username, keys, kdf);
  }

  /** The keys of `password`, for changes that ask for it again (checked by the server). */
  private reauth(password: string): Promise<Keys> {
    return Keys.derive(this.username, password, this.kdf.salt, this.kdf.iterations);
  }

  /** Which second factors the account has. */
  factors(): Promise<Factors> {
    return factors(this.client);
  }

  /** Starts a TOTP enrolment: the secret and the `otpauth://` URI for the app. */
  async beginTotp(password: string): Promise<{ secret: string; otpauth_uri: string }> {
    return beginTotp(this.client, await this.reauth(password));
  }

  /** Confirms the enrolment with the app's code; recovery codes when it is the first factor. */
  confirmTotp(code: string): Promise<string[] | null> {
    return confirmTotp(this.client, code.trim());
  }

  /** Turns TOTP off. */
  async removeTotp(password: string): Promise<void> {
    await removeTotp(this.client, await this.reauth(password));
  }

  /** Registers this browser's authenticator; recovery codes when it is the first factor. */
  async addKey(password: string, name: string): Promise<string[] | null> {
    return (await addSecurityKey(this.client, await this.reauth(password), name)).recovery_codes;
  }

  /** Removes an authenticator. */
  async removeKey(password: string, id: string): Promise<void> {
    await removeSecurityKey(this.client, await this.reauth(password), id);
  }

  /** The account's live sessions. */
  sessions(): Promise<SessionEntry[]> {
    return sessions(this.client);
  }

  /** Ends one session, or (id null) every other one. */
  async endSession(id: string | null): Promise<void> {
    if (id === null) await endOtherSessions(this.client);
    else await endSession(this.client, id);
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
