// What the client checks before it trusts the server: the key-derivation parameters (against
// a floor and a pin), the transport, and each vault's revision (never older than one seen,
// never other content under a seen one).
import { InsecureTransportError, RollbackError, WeakKdfError } from "./errors.js";

/** The only key derivation this client accepts. */
export const KDF = "pbkdf2-sha256";
/** The fewest PBKDF2 iterations accepted, whatever the server says. */
export const MIN_ITERATIONS = 600_000;
/** The shortest KDF salt accepted. */
export const MIN_KDF_SALT = 16;

/** An account's key-derivation parameters (the prelogin answer, decoded). */
export interface KdfParams {
  /** Always `pbkdf2-sha256`. */
  kdf: string;
  /** PBKDF2 iterations. */
  iterations: number;
  /** The salt. */
  salt: Uint8Array;
}

/**
 * Refuses parameters below this client's floor or, when any are pinned (those last seen for
 * the account, and those of an unfinished password change), that differ from every pin other
 * than by more iterations. Called before anything is derived from them.
 */
export function checkKdf(params: KdfParams, pinned: readonly KdfParams[]): void {
  if (params.kdf !== KDF) throw new WeakKdfError(`kdf ${JSON.stringify(params.kdf)} is not ${KDF}`);
  if (!Number.isSafeInteger(params.iterations) || params.iterations < MIN_ITERATIONS) {
    throw new WeakKdfError(`${params.iterations} iterations is below the minimum of ${MIN_ITERATIONS}`);
  }
  if (params.salt.length < MIN_KDF_SALT) {
    throw new WeakKdfError(`a ${params.salt.length}-byte salt is shorter than ${MIN_KDF_SALT} bytes`);
  }
  if (pinned.length === 0) return;
  const same = pinned.filter((p) => p.kdf === params.kdf && sameBytes(p.salt, params.salt));
  if (same.length === 0) {
    throw new WeakKdfError(
      "the salt differs from the one this client saw for the account (if the password was changed elsewhere, log in with trustNewKdf)",
    );
  }
  const least = Math.min(...same.map((p) => p.iterations));
  if (params.iterations < least) {
    throw new WeakKdfError(`${params.iterations} iterations is below the ${least} this client saw for the account`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Refuses `http://` to anything but loopback unless the caller opted in. */
export function checkTransport(base: string, allowInsecureHttp: boolean): void {
  const url = new URL(base);
  if (url.protocol !== "http:" || allowInsecureHttp) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || /^127\./.test(host) || host === "::1";
  if (!loopback) throw new InsecureTransportError(`plain http:// to ${host}: anyone on the way could read and rewrite it`);
}

/** The newest revision of a vault this client has seen: what a later read must not go behind. */
export interface VaultSeen {
  /** Revision number. */
  revision: number;
  /** Its quoted ETag. */
  etag: string;
  /** Its salt (base64): the same revision with another salt is other content. */
  salt: string;
}

/**
 * Refuses `served` when it is older than `known`, or claims `known`'s revision with another
 * ETag or salt (a rollback or a swap by the server).
 */
export function checkRevision(vaultId: string, known: VaultSeen | undefined, served: VaultSeen): void {
  if (!known) return;
  if (served.revision < known.revision) {
    throw new RollbackError(`vault ${vaultId}: the server served revision ${served.revision}, older than ${known.revision} seen before`);
  }
  if (served.revision === known.revision && (served.etag !== known.etag || served.salt !== known.salt)) {
    throw new RollbackError(`vault ${vaultId}: the server served other content under revision ${served.revision}`);
  }
}
