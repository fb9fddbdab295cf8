// Second factors, sessions and the audit trail (docs/API.md, section 6). A second factor guards
// the account's sessions, never the vaults' keys: nothing here touches K_enc.
import { toBase64 } from "./bytes.js";
import type { Client } from "./client.js";
import type { Keys } from "./crypto.js";
import { ProtocolError } from "./errors.js";

/** A live session of the account. */
export interface SessionEntry {
  session_id: string;
  device_name: string;
  created_at: string;
  last_used_at: string;
  address: string;
  scope: string;
  current: boolean;
}

/** A registered WebAuthn authenticator. */
export interface WebauthnKey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

/** Which second factors the account has. */
export interface Factors {
  totp: boolean;
  totp_pending: boolean;
  recovery_codes_left: number;
  webauthn: WebauthnKey[];
}

/** One event of the audit trail. */
export interface AuditEvent {
  id: number;
  at: string;
  kind: string;
  session_id: string | null;
  address: string;
  detail: Record<string, unknown>;
}

async function json<T>(resp: Response): Promise<T> {
  return (await resp.json()) as T;
}

function body(value: unknown): RequestInit {
  return { headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}

const FACTORS = "/api/v1/account/second-factors";

/** The account's live sessions, newest first. */
export async function sessions(client: Client): Promise<SessionEntry[]> {
  const list = await json<{ sessions?: SessionEntry[] }>(await client.request("GET", "/api/v1/auth/sessions"));
  if (!Array.isArray(list.sessions)) throw new ProtocolError("session list");
  return list.sessions;
}

/** Ends one session of the account (this one included). */
export async function endSession(client: Client, sessionId: string): Promise<void> {
  await client.request("DELETE", `/api/v1/auth/sessions/${encodeURIComponent(sessionId)}`);
}

/** Ends every session of the account but this one; how many ended. */
export async function endOtherSessions(client: Client): Promise<number> {
  return (await json<{ ended: number }>(await client.request("DELETE", "/api/v1/auth/sessions"))).ended;
}

/** Which second factors the account has. */
export async function factors(client: Client): Promise<Factors> {
  return json<Factors>(await client.request("GET", FACTORS));
}

/** Starts a TOTP enrolment (the password is checked again): the secret and its `otpauth://` URI. */
export async function beginTotp(client: Client, keys: Keys): Promise<{ secret: string; otpauth_uri: string }> {
  return json(await client.request("POST", `${FACTORS}/totp`, body({ auth_hash: toBase64(keys.authHash) })));
}

/** Confirms the enrolment with the app's code; recovery codes (shown only now) when it is the first factor, else null. */
export async function confirmTotp(client: Client, code: string): Promise<string[] | null> {
  return (await json<{ recovery_codes: string[] | null }>(await client.request("POST", `${FACTORS}/totp/confirm`, body({ code })))).recovery_codes;
}

/** Turns TOTP off (the password is checked again; the other sessions end). */
export async function removeTotp(client: Client, keys: Keys): Promise<void> {
  await client.request("DELETE", `${FACTORS}/totp`, body({ auth_hash: toBase64(keys.authHash) }));
}

/**
 * Registers this browser's authenticator (a passkey or security key) named `name`: the server's
 * options go to `navigator.credentials.create`, its answer back. Returns the key, and the
 * recovery codes when it is the account's first second factor.
 */
export async function addSecurityKey(
  client: Client,
  keys: Keys,
  name: string,
): Promise<{ key: WebauthnKey; recovery_codes: string[] | null }> {
  const begin = await json<{ registration_token: string; options: { publicKey: Record<string, unknown> } }>(
    await client.request("POST", `${FACTORS}/webauthn`, body({ auth_hash: toBase64(keys.authHash), name })),
  );
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(begin.options.publicKey as never);
  const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
  if (!credential) throw new ProtocolError("the authenticator gave no credential");
  const finish = { registration_token: begin.registration_token, credential: credential.toJSON() };
  return json(await client.request("POST", `${FACTORS}/webauthn/finish`, body(finish)));
}

/** Removes an authenticator (the password is checked again; the other sessions end). */
export async function removeSecurityKey(client: Client, keys: Keys, id: string): Promise<void> {
  await client.request("DELETE", `${FACTORS}/webauthn/${encodeURIComponent(id)}`, body({ auth_hash: toBase64(keys.authHash) }));
}

/** Answers a login challenge's WebAuthn options with this browser's authenticator. */
export async function assertSecurityKey(options: { publicKey: Record<string, unknown> }): Promise<unknown> {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey as never);
  const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null;
  if (!credential) throw new ProtocolError("the authenticator gave no assertion");
  return credential.toJSON();
}

/** A page of the audit trail, newest first. */
export async function auditEvents(client: Client, limit = 50, cursor?: string): Promise<{ items: AuditEvent[]; next_cursor: string | null }> {
  const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  return json(await client.request("GET", `/api/v1/account/events?limit=${limit}${query}`));
}
