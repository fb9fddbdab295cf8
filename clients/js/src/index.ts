// @blindvault/client: the blindvault client for browsers and Node.js.
export { fromBase64, toBase64, toHex, fromHex } from "./bytes.js";
export { CHUNK, FORMAT_VERSION, Keys, VaultCipher, deriveMaterial, keyIdOf, sealedLength } from "./crypto.js";
export { Client, DEFAULT_ITERATIONS, conditionHeader, vaultPath } from "./client.js";
export type { ClientOptions, Precondition, VaultInfo } from "./client.js";
export {
  ApiError, CannotResumeError, ConflictError, InsecureTransportError, OtherKeyError, ProtocolError, RollbackError,
  SecondFactorRequired, TamperedError, WeakKdfError,
} from "./errors.js";
export type { SecondFactorChallenge } from "./errors.js";
export {
  addSecurityKey, assertSecurityKey, auditEvents, beginTotp, confirmTotp, endOtherSessions, endSession, factors,
  removeSecurityKey, removeTotp, sessions,
} from "./security.js";
export type { AuditEvent, Factors, SessionEntry, WebauthnKey } from "./security.js";
export { uploadDirect } from "./direct.js";
export { RESUMABLE_ABOVE, changePassword } from "./passwd.js";
export type { PasswordChange } from "./passwd.js";
export { PATCH_BYTES, pendingKey, uploadResumable } from "./resumable.js";
export type { ResumableUpload } from "./resumable.js";
export { SentLog } from "./sentlog.js";
export { IndexedDbUploadStore, MemoryUploadStore } from "./store.js";
export type { PendingUpload, UploadStore } from "./store.js";
export { decryptStream, encryptStream } from "./stream.js";
export { KDF, MIN_ITERATIONS, checkKdf, checkRevision, checkTransport } from "./verify.js";
export type { KdfParams, VaultSeen } from "./verify.js";
