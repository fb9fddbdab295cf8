// A typed client of the blindvault HTTP API (docs/API.md) that encrypts and decrypts on this
// side and believes the server no more than it must.
import { fromBase64, toBase64 } from "./bytes.js";
import { FORMAT_VERSION, KDF_SALT_LEN, Keys, SEALED_CHUNK, TAG } from "./crypto.js";
import { ApiError, ConflictError, ProtocolError, RollbackError, SecondFactorRequired } from "./errors.js";
import { decryptStream, encryptStream } from "./stream.js";
import { KDF, type KdfParams, type VaultSeen, checkKdf, checkRevision, checkTransport } from "./verify.js";

/** Iterations this client asks for at registration (the contract's minimum). */
export const DEFAULT_ITERATIONS = 600_000;

/** A vault as the server describes it (the contract's `VaultResponse`). */
export interface VaultInfo {
  vault_id: string;
  version: number;
  revision: number;
  /** Quoted, strong. */
  etag: string;
  /** Ciphertext bytes. */
  size: number;
  created_at: string;
  updated_at: string;
}

/** `GET /vault/{id}`: the metadata, the envelope, and the ciphertext when it is small. */
interface FullVault extends VaultInfo {
  ciphertext: string | null;
  iv: string;
  salt: string;
}

/** What a write expects: no vault yet, or the vault at this (quoted) ETag. */
export type Precondition = { absent: true } | { etag: string };

/** Options of a [`Client`]. */
export interface ClientOptions {
  /** Allow plain `http://` to a host that is not loopback. */
  allowInsecureHttp?: boolean;
  /** Where revisions seen are remembered (default: this object's memory). */
  seen?: Map<string, VaultSeen>;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Ask for direct downloads from the object store (default: outside browsers only; a page
   * cannot read a redirect, and its own policy keeps it on its own origin).
   */
  directDownloads?: boolean;
}

/** Whether this runs in a page or a worker of one (which cannot use direct downloads). */
function inBrowser(): boolean {
  return "document" in globalThis || "ServiceWorkerGlobalScope" in globalThis || "WorkerGlobalScope" in globalThis;
}

interface Tokens {
  access: string;
  refresh: string;
  until: number;
}

/** Vault ids travel as one percent-encoded path segment. */
export function vaultPath(vaultId: string, tail = ""): string {
  return `/api/v1/vault/${encodeURIComponent(vaultId).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}${tail}`;
}

/**
 * The server's refusal as an error: [`ConflictError`] for 412, [`SecondFactorRequired`] for a
 * login that needs a second factor, else [`ApiError`].
 */
export async function refusal(resp: Response): Promise<ApiError | SecondFactorRequired> {
  let code = "unknown";
  let detail = `the server answered ${resp.status}`;
  let problem: Record<string, unknown> = {};
  try {
    problem = (await resp.json()) as Record<string, unknown>;
    if (typeof problem["code"] === "string") code = problem["code"];
    if (typeof problem["detail"] === "string") detail = problem["detail"];
  } catch {
    // not a problem body: keep the status
  }
  if (resp.status === 401 && code === "second_factor_required") {
    const { challenge_token: token, expires_in: ttl, factors, webauthn } = problem;
    if (typeof token !== "string" || typeof ttl !== "number" || !Array.isArray(factors)) {
      throw new ProtocolError("second-factor challenge");
    }
    const options = webauthn && typeof webauthn === "object" ? (webauthn as { publicKey: Record<string, unknown> }) : null;
    return new SecondFactorRequired({ challengeToken: token, expiresIn: ttl, factors: factors.map(String), webauthn: options });
  }
  return resp.status === 412 ? new ConflictError(resp.headers.get("etag"), detail) : new ApiError(resp.status, code, detail);
}

/** A blindvault API client; refreshes its access token by itself before it expires. */
export class Client {
  private tokens: Tokens | null = null;
  private pending: { keys: Keys; kdf: KdfParams } | null = null;
  private refreshing: Promise<void> | null = null;
  private readonly base: string;
  private readonly http: typeof fetch;
  private readonly allowInsecureHttp: boolean;
  /** Whether to ask for direct downloads (off in browsers, and once a redirect was hidden). */
  private direct: boolean;
  /** Revisions seen, per vault id: reads never go behind them. */
  readonly seen: Map<string, VaultSeen>;

  /** A client of the server at `base` (e.g. `https://vault.example`). */
  constructor(base: string, options: ClientOptions = {}) {
    this.allowInsecureHttp = options.allowInsecureHttp ?? false;
    this.direct = options.directDownloads ?? !inBrowser();
    checkTransport(base, this.allowInsecureHttp);
    this.base = base.replace(/\/+$/, "");
    this.http = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.seen = options.seen ?? new Map();
  }

  /** The absolute URL of an API path. */
  url(path: string): string {
    return `${this.base}${path}`;
  }

  private async post(path: string, body: unknown): Promise<Response> {
    const resp = await this.http(this.url(path), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!resp.ok) throw await refusal(resp);
    return resp;
  }

  /** The account's KDF parameters, unchecked (see [`Client.login`]). */
  async prelogin(username: string): Promise<KdfParams> {
    const body = (await (await this.post("/api/v1/auth/prelogin", { username })).json()) as Record<string, unknown>;
    if (typeof body["kdf"] !== "string" || typeof body["iterations"] !== "number" || typeof body["salt"] !== "string") {
      throw new ProtocolError("prelogin answer");
    }
    return { kdf: body["kdf"], iterations: body["iterations"], salt: fromBase64(body["salt"]) };
  }

  /** Creates an account with a random KDF salt and logs in; returns the keys and the parameters to pin. */
  async register(username: string, password: string, iterations = DEFAULT_ITERATIONS): Promise<{ keys: Keys; kdf: KdfParams }> {
    const kdf: KdfParams = { kdf: KDF, iterations, salt: globalThis.crypto.getRandomValues(new Uint8Array(KDF_SALT_LEN)) };
    checkKdf(kdf, []);
    const keys = await Keys.derive(username, password, kdf.salt, iterations);
    await this.post("/api/v1/auth/register", {
      username,
      auth_hash: toBase64(keys.authHash),
      salt: toBase64(kdf.salt),
      kdf: KDF,
      iterations,
    });
    await this.exchange("/api/v1/auth/login", { username, auth_hash: toBase64(keys.authHash) });
    return { keys, kdf };
  }

  /**
   * Logs in: prelogin's parameters are checked against this client's floor and `pinned` (the
   * account's last seen, if any) before anything is derived from them. Returns the keys (K_enc
   * stays inside them) and the parameters to pin from now on.
   */
  async login(
    username: string,
    password: string,
    pinned: readonly KdfParams[] = [],
    deviceName?: string,
  ): Promise<{ keys: Keys; kdf: KdfParams }> {
    const kdf = await this.prelogin(username);
    checkKdf(kdf, pinned);
    const keys = await Keys.derive(username, password, kdf.salt, kdf.iterations);
    try {
      await this.exchange("/api/v1/auth/login", { username, auth_hash: toBase64(keys.authHash), device_name: deviceName });
    } catch (err) {
      // Keep what the password gave: the second step hands it back (see completeLogin).
      if (err instanceof SecondFactorRequired) this.pending = { keys, kdf };
      throw err;
    }
    return { keys, kdf };
  }

  /**
   * Completes a login that threw [`SecondFactorRequired`], answering its challenge with a TOTP
   * code, a recovery code, or a WebAuthn assertion (`PublicKeyCredential.toJSON()`); returns
   * what [`Client.login`] would have.
   */
  async completeLogin(
    challenge: { challengeToken: string },
    answer: { method: "totp" | "recovery_code"; code: string } | { method: "webauthn"; credential: unknown },
  ): Promise<{ keys: Keys; kdf: KdfParams }> {
    const pending = this.pending;
    if (!pending) throw new ApiError(401, "invalid_challenge", "no login is waiting for a second factor");
    await this.exchange("/api/v1/auth/login/second-factor", { challenge_token: challenge.challengeToken, ...answer });
    this.pending = null;
    return pending;
  }

  /** Continues a session from a refresh token (each refresh replaces it: see [`Client.refreshToken`]). */
  async resume(refreshToken: string): Promise<void> {
    await this.exchange("/api/v1/auth/refresh", { refresh_token: refreshToken });
  }

  /** The current refresh token, if logged in. */
  get refreshToken(): string | null {
    return this.tokens?.refresh ?? null;
  }

  private async exchange(path: string, body: unknown): Promise<void> {
    const answer = (await (await this.post(path, body)).json()) as Record<string, unknown>;
    const { access_token: access, refresh_token: refresh, expires_in: ttl } = answer;
    if (typeof access !== "string" || typeof refresh !== "string" || typeof ttl !== "number") {
      throw new ProtocolError("token answer");
    }
    this.tokens = { access, refresh, until: Date.now() + ttl * 1000 };
  }

  /** A valid access token, refreshed first when it is within 30 s of expiring. */
  async accessToken(): Promise<string> {
    if (!this.tokens) throw new ApiError(401, "unauthenticated", "not logged in");
    if (this.tokens.until - Date.now() < 30_000) {
      this.refreshing ??= this.resume(this.tokens.refresh).finally(() => (this.refreshing = null));
      await this.refreshing;
    }
    return this.tokens!.access;
  }

  /** An authenticated request; a refusal becomes an error unless `allow` lists its status. */
  async request(method: string, path: string, init: RequestInit = {}, allow: number[] = []): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${await this.accessToken()}`);
    const resp = await this.http(this.url(path), { ...init, method, headers });
    if (!resp.ok && !allow.includes(resp.status)) throw await refusal(resp);
    return resp;
  }

  /** Who the session belongs to. */
  async whoami(): Promise<{ user_id: string; username: string; scope: string; expires_at: string }> {
    return (await this.request("GET", "/api/v1/auth/session")).json();
  }

  /** Ends the session on the server. */
  async logout(): Promise<void> {
    if (!this.tokens) return;
    await this.request("POST", "/api/v1/auth/logout");
    this.tokens = null;
  }

  /** Every vault, all pages. */
  async list(): Promise<VaultInfo[]> {
    const all: VaultInfo[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page = (await (await this.request("GET", `/api/v1/vault?limit=1000${query}`)).json()) as {
        items?: VaultInfo[];
        next_cursor?: string | null;
      };
      if (!Array.isArray(page.items)) throw new ProtocolError("vault list");
      all.push(...page.items);
      cursor = page.next_cursor ?? null;
    } while (cursor !== null);
    return all;
  }

  /** Encrypts `plaintext` (in memory) and stores it through the JSON representation. */
  async put(keys: Keys, vaultId: string, plaintext: Uint8Array, precondition: Precondition): Promise<VaultInfo> {
    const { salt, iv } = keys.freshVaultParams();
    const cipher = await keys.vaultCipher(salt, iv, vaultId, FORMAT_VERSION);
    const body = JSON.stringify({
      ciphertext: toBase64(await cipher.sealAll(plaintext)),
      iv: toBase64(iv),
      salt: toBase64(salt),
      version: FORMAT_VERSION,
    });
    const headers = { "content-type": "application/json", ...conditionHeader(precondition) };
    return this.written(vaultId, await this.request("PUT", vaultPath(vaultId), { body, headers }), salt);
  }

  /**
   * Encrypts a stream of plaintext as it is read and streams it to the vault's content. Needs
   * a `fetch` that streams request bodies: Node's does; Chromium does only over HTTP/2, so a
   * page sends large files with [`uploadResumable`] instead.
   */
  async putStream(keys: Keys, vaultId: string, plaintext: ReadableStream<Uint8Array>, precondition: Precondition): Promise<VaultInfo> {
    const { salt, iv } = keys.freshVaultParams();
    const cipher = await keys.vaultCipher(salt, iv, vaultId, FORMAT_VERSION);
    const init = {
      body: plaintext.pipeThrough(encryptStream(cipher)),
      duplex: "half",
      headers: {
        "content-type": "application/octet-stream",
        "x-vault-iv": toBase64(iv),
        "x-vault-salt": toBase64(salt),
        "x-vault-version": String(FORMAT_VERSION),
        ...conditionHeader(precondition),
      },
    } as RequestInit;
    return this.written(vaultId, await this.request("PUT", vaultPath(vaultId, "/content"), init), salt);
  }

  private async written(vaultId: string, resp: Response, salt: Uint8Array): Promise<VaultInfo> {
    const info = (await resp.json()) as VaultInfo;
    if (info.vault_id !== vaultId || typeof info.revision !== "number") throw new ProtocolError("write answer");
    this.remember(vaultId, { revision: info.revision, etag: info.etag, salt: toBase64(salt) });
    return info;
  }

  private remember(vaultId: string, served: VaultSeen): void {
    checkRevision(vaultId, this.seen.get(vaultId), served);
    this.seen.set(vaultId, served);
  }

  /** Fetches and decrypts a vault held in memory (through its streamed content). */
  async get(keys: Keys, vaultId: string): Promise<{ plaintext: Uint8Array; etag: string }> {
    const { stream, etag } = await this.getStream(keys, vaultId);
    return { plaintext: new Uint8Array(await new Response(stream).arrayBuffer()), etag };
  }

  /**
   * A vault's plaintext as a stream, decrypted as it arrives; the stream fails if any chunk
   * does not authenticate. Refuses another vault than the one asked for, a revision older than
   * one seen, or other content under a seen one. Small vaults come inline with their metadata;
   * larger ones stream from the content URL, which must serve the revision the metadata named.
   */
  async getStream(keys: Keys, vaultId: string): Promise<{ stream: ReadableStream<Uint8Array>; etag: string; size: number; revision: number }> {
    const full = (await (await this.request("GET", vaultPath(vaultId))).json()) as Partial<FullVault>;
    if (full.vault_id !== vaultId) throw new RollbackError(`the server answered with another vault than ${vaultId}`);
    if (typeof full.revision !== "number" || typeof full.etag !== "string" || typeof full.salt !== "string" || typeof full.iv !== "string") {
      throw new ProtocolError(`vault ${vaultId}: metadata`);
    }
    this.remember(vaultId, { revision: full.revision, etag: full.etag, salt: full.salt });
    const cipher = await keys.vaultCipher(fromBase64(full.salt), fromBase64(full.iv), vaultId, Number(full.version));
    const answer = { etag: full.etag, revision: full.revision };
    if (typeof full.ciphertext === "string") {
      const plaintext = await cipher.openAll(fromBase64(full.ciphertext));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(plaintext);
          controller.close();
        },
      });
      return { ...answer, stream, size: plaintext.length };
    }
    const resp = await this.content(vaultId);
    if (resp.headers.get("etag") !== full.etag || resp.headers.get("x-vault-salt") !== full.salt) {
      await resp.body?.cancel();
      throw new ConflictError(resp.headers.get("etag"), `vault ${vaultId} changed while it was being read; read it again`);
    }
    if (!resp.body) throw new ProtocolError("content without a body");
    const size = Math.max(0, Number(full.size) - TAG * Math.ceil(Number(full.size) / SEALED_CHUNK));
    return { ...answer, stream: resp.body.pipeThrough(decryptStream(cipher)), size };
  }

  /**
   * A vault's content: from the object store when the server redirects there (a direct
   * download: the 307's headers, the store's bytes, fetched without credentials), through the
   * gateway when it does not, or when the store's URL cannot be used. Off in browsers (see
   * `ClientOptions.directDownloads`); a redirect hidden anyway makes the client stop asking.
   */
  private async content(vaultId: string): Promise<Response> {
    const path = vaultPath(vaultId, "/content");
    if (this.direct) {
      const resp = await this.request("GET", `${path}?direct=true`, { redirect: "manual" }, [0, 307]);
      if (resp.type === "opaqueredirect" || resp.status === 0) {
        this.direct = false;
      } else if (resp.status !== 307) {
        return resp;
      } else {
        const bytes = await this.fetchDirect(resp.headers).catch(() => null);
        if (bytes) {
          const headers = new Headers(resp.headers);
          headers.delete("location");
          headers.set("content-length", bytes.headers.get("content-length") ?? "");
          return new Response(bytes.body, { status: 200, headers });
        }
      }
    }
    return this.request("GET", path);
  }

  /** The object a direct download's 307 (`headers`) names, if it is there at the announced length. */
  private async fetchDirect(headers: Headers): Promise<Response | null> {
    const location = headers.get("location");
    if (!location) return null;
    checkTransport(location, this.allowInsecureHttp);
    const resp = await this.http(location, { redirect: "error" });
    if (resp.status !== 200 || resp.headers.get("content-length") !== headers.get("x-vault-size")) {
      await resp.body?.cancel();
      return null;
    }
    return resp;
  }

  /** Deletes a vault, only at `etag` when given. */
  async delete(vaultId: string, etag?: string): Promise<void> {
    await this.request("DELETE", vaultPath(vaultId), etag ? { headers: { "if-match": etag } } : {});
    this.seen.delete(vaultId);
  }
}

/** The header that states a precondition. */
export function conditionHeader(precondition: Precondition): Record<string, string> {
  return "etag" in precondition ? { "if-match": precondition.etag } : { "if-none-match": "*" };
}
