// Resumable uploads through tus with tus-js-client. The ciphertext is never kept: chunk i
// under one key and IV is a function of chunk i's plaintext, so each slice tus asks for is
// regenerated from the file, checked against the upload's sent log (or recorded in it, and
// the log stored, before the slice is handed over). A changed file, or a server that goes
// back on an offset it acknowledged, abandons the upload and starts a new one under a fresh
// salt and IV: nothing is ever sealed twice under one key and nonce.
import * as tus from "tus-js-client";

import { concat, fromBase64, toBase64 } from "./bytes.js";
import { CHUNK, FORMAT_VERSION, type Keys, SEALED_CHUNK, TAG, type VaultCipher, chunkCount, sealedLength } from "./crypto.js";
import { type Client, type Precondition, refusal } from "./client.js";
import { ApiError, CannotResumeError, ConflictError } from "./errors.js";
import { SentLog } from "./sentlog.js";
import type { PendingUpload, UploadStore } from "./store.js";

/** Ciphertext bytes per PATCH: 64 whole sealed chunks (4 MiB of plaintext). */
export const PATCH_BYTES = 64 * SEALED_CHUNK;

/** A resumable upload to run. */
export interface ResumableUpload {
  /** The account the upload belongs to (keys the store). */
  owner: string;
  vaultId: string;
  /** The plaintext: a `File` or any `Blob`. */
  file: Blob & { name?: string; lastModified?: number };
  /** Checked when the last byte commits. */
  precondition: Precondition;
  /** Where the pending upload is kept to continue after a reload. */
  store: UploadStore;
  /** Plaintext fraction done, 0 to 1. */
  onProgress?: (fraction: number) => void;
  /** Aborts the upload (it stays pending, to continue later). */
  signal?: AbortSignal;
  /** Pause before retry n after a dropped connection (ms). */
  retryDelays?: number[];
}

/** The key under which `upload`'s file is remembered. */
export function pendingKey(upload: Pick<ResumableUpload, "owner" | "vaultId" | "file">): string {
  const { owner, vaultId, file } = upload;
  return [owner, vaultId, file.name ?? "", file.size, file.lastModified ?? 0].join("|");
}

function metadataHeader(vaultId: string, salt: Uint8Array, iv: Uint8Array, precondition: Precondition): string {
  const text = (s: string) => new TextEncoder().encode(s);
  const pairs: [string, Uint8Array][] = [
    ["vault_id", text(vaultId)],
    ["iv", iv],
    ["salt", salt],
    ["version", text(String(FORMAT_VERSION))],
    "etag" in precondition ? ["if_match", text(precondition.etag)] : ["if_none_match", text("*")],
  ];
  return pairs.map(([k, v]) => `${k} ${toBase64(v)}`).join(",");
}

/** Seals chunks `first..=last` of `file`, checking or recording each tag in `log`. */
async function produce(cipher: VaultCipher, file: Blob, log: SentLog, first: number, last: number): Promise<Uint8Array[]> {
  const count = chunkCount(file.size);
  const out: Uint8Array[] = [];
  for (let i = first; i <= last; i++) {
    const plain = new Uint8Array(await file.slice(i * CHUNK, (i + 1) * CHUNK).arrayBuffer());
    const sealed = await cipher.seal(i, plain, i === count - 1);
    log.checkOrRecord(i, sealed.subarray(sealed.length - TAG));
    out.push(sealed);
  }
  return out;
}

/**
 * Uploads `upload.file` to its vault through tus, continuing a pending upload of the same
 * file when the store has one (after every recorded chunk is regenerated and checked).
 * Resolves to the new revision's quoted ETag.
 */
export async function uploadResumable(client: Client, keys: Keys, upload: ResumableUpload): Promise<string> {
  try {
    return await attempt(client, keys, upload);
  } catch (error) {
    if (!(error instanceof CannotResumeError)) throw error;
    // The file changed, or the server went back: end that upload and start afresh.
    const stale = await upload.store.get(pendingKey(upload));
    await upload.store.delete(pendingKey(upload));
    if (stale?.uploadUrl) {
      await client.request("DELETE", new URL(stale.uploadUrl, client.url("/")).pathname, { headers: { "tus-resumable": "1.0.0" } }, [404]);
    }
    return attempt(client, keys, upload);
  }
}

async function attempt(client: Client, keys: Keys, upload: ResumableUpload): Promise<string> {
  const { file, vaultId, store } = upload;
  const key = pendingKey(upload);
  let record = await store.get(key);
  if (!record) {
    const { salt, iv } = keys.freshVaultParams();
    record = {
      key, owner: upload.owner, vaultId, name: file.name ?? "", size: file.size, lastModified: file.lastModified ?? 0,
      uploadUrl: null, salt: toBase64(salt), iv: toBase64(iv), tags: new Uint8Array(0), acknowledged: 0,
    };
    await store.put(record);
  }
  const pending: PendingUpload = record;
  const salt = fromBase64(pending.salt);
  const iv = fromBase64(pending.iv);
  const cipher = await keys.vaultCipher(salt, iv, vaultId, FORMAT_VERSION);
  const log = new SentLog(pending.tags, pending.acknowledged);
  if (log.recorded > 0) await produce(cipher, file, log, 0, log.recorded - 1); // checked before anything is sent
  const total = sealedLength(file.size);
  const save = () => store.put({ ...pending, tags: log.snapshot(), acknowledged: log.acknowledged });

  const source = {
    size: total,
    async slice(start: number, end: number) {
      if (start < log.acknowledged) {
        throw new CannotResumeError(`the server asks for offset ${start}, below the ${log.acknowledged} it acknowledged`);
      }
      const stop = Math.min(end, total);
      const first = Math.floor(start / SEALED_CHUNK);
      const last = Math.floor((stop - 1) / SEALED_CHUNK);
      const sealed = concat(...(await produce(cipher, file, log, first, last)));
      await save(); // recorded before sent
      const bytes = sealed.subarray(start - first * SEALED_CHUNK, stop - first * SEALED_CHUNK);
      // tus-js-client counts a slice by its `size` (as a Blob has); both HTTP stacks send the bytes.
      return { value: Object.assign(bytes, { size: bytes.length }), done: stop >= total };
    },
    close() {},
  };

  return new Promise<string>((resolve, reject) => {
    let failure: Error | null = null;
    const job = new tus.Upload(file, {
      endpoint: client.url("/api/v1/uploads"),
      uploadUrl: pending.uploadUrl,
      uploadSize: total,
      chunkSize: PATCH_BYTES,
      retryDelays: upload.retryDelays ?? [0, 1000, 3000, 5000, 10000],
      storeFingerprintForResuming: false,
      fileReader: { openFile: async () => source },
      async onBeforeRequest(req) {
        req.setHeader("Authorization", `Bearer ${await client.accessToken()}`);
        if (req.getMethod() === "POST") req.setHeader("Upload-Metadata", metadataHeader(vaultId, salt, iv, upload.precondition));
      },
      onUploadUrlAvailable() {
        pending.uploadUrl = job.url;
        void save();
      },
      onChunkComplete(_size, accepted) {
        try {
          log.acknowledge(accepted, log.recorded * SEALED_CHUNK);
        } catch (error) {
          failure = error as Error;
          void job.abort();
          reject(failure);
        }
      },
      onProgress(sent, all) {
        upload.onProgress?.(all > 0 ? sent / all : 1);
      },
      onShouldRetry(error) {
        const status = error.originalResponse?.getStatus() ?? 0;
        return failure === null && !(error instanceof CannotResumeError) && !(error.cause instanceof CannotResumeError) && (status === 0 || status === 409 || status === 423 || status >= 500);
      },
      onSuccess({ lastResponse }) {
        void store.delete(key).then(() => resolve(lastResponse.getHeader("ETag") ?? ""), reject);
      },
      onError(error) {
        void mapError(error, key, store).then(reject, reject);
      },
    });
    upload.signal?.addEventListener("abort", () => {
      void job.abort();
      reject(new DOMException("the upload was cancelled; it can continue later", "AbortError"));
    });
    job.start();
  });
}

async function mapError(error: Error, key: string, store: UploadStore): Promise<Error> {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof CannotResumeError) return cause;
  if (error instanceof CannotResumeError) return error;
  const response = (error as tus.DetailedError).originalResponse;
  if (!response) return error;
  const status = response.getStatus();
  const body = new Response(response.getBody(), { status, headers: { etag: response.getHeader("ETag") ?? "" } });
  const refused = await refusal(body);
  if (refused instanceof ConflictError || status === 404) await store.delete(key); // the upload is over
  return refused instanceof ApiError ? refused : error;
}
