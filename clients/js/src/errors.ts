// The errors the SDK throws: what the server refused (with its stable code), and what this
// client refused to believe.

/** The server refused a request: `status`, the problem's stable `code` and its `detail`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The problem's stable code (e.g. `invalid_credentials`), or `unknown`. */
    readonly code: string,
    /** The server's explanation, for humans. */
    readonly detail: string,
  ) {
    super(`${detail} (${code})`);
  }
}

/** What a right password gets when the account has a second factor. */
export interface SecondFactorChallenge {
  /** Single use, for [`Client.completeLogin`]. */
  challengeToken: string;
  /** Seconds it is accepted for. */
  expiresIn: number;
  /** What may answer it: `totp`, `webauthn`, `recovery_code`. */
  factors: string[];
  /** WebAuthn request options (`{publicKey}` as JSON), when `webauthn` is among the factors. */
  webauthn: { publicKey: Record<string, unknown> } | null;
}

/** The password was right and the account has a second factor (401 `second_factor_required`). */
export class SecondFactorRequired extends Error {
  override name = "SecondFactorRequired";
  readonly code = "second_factor_required";
  constructor(
    /** The server's challenge. */
    readonly challenge: SecondFactorChallenge,
  ) {
    super(`this account has a second factor (${challenge.factors.join(", ")})`);
  }
}

/** A write found the vault at another revision (412): `currentEtag` is where it is now. */
export class ConflictError extends ApiError {
  override name = "ConflictError";
  constructor(
    /** The vault's current ETag, when the server said. */
    readonly currentEtag: string | null,
    detail = "the vault is not at the expected revision",
  ) {
    super(412, "precondition_failed", detail);
  }
}

/** The server answered something this client does not accept as the protocol. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** The KDF parameters are weaker than this client accepts, or differ from the pinned ones. */
export class WeakKdfError extends Error {
  override name = "WeakKdfError";
}

/** The server served an older revision than one seen, other content under a seen one, or another vault. */
export class RollbackError extends Error {
  override name = "RollbackError";
}

/** A vault is encrypted under another key (e.g. already re-encrypted by an unfinished password change). */
export class OtherKeyError extends Error {
  override name = "OtherKeyError";
}

/** Decryption failed: the ciphertext was altered, truncated, reordered or spliced. */
export class TamperedError extends Error {
  override name = "TamperedError";
}

/** A resumable upload cannot continue safely (the file changed, or the server went back on an offset). */
export class CannotResumeError extends Error {
  override name = "CannotResumeError";
}

/** A plain `http://` server that is not loopback, without the caller's explicit consent. */
export class InsecureTransportError extends Error {
  override name = "InsecureTransportError";
}
