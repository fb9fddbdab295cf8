// Direct uploads (docs/API.md section 4): the ciphertext goes to the object store part by part
// through URLs the server signs with each part's SHA-256, and the server commits it with the
// same compare-and-swap as any write. Where the server offers none (local-file storage), or
// the object store cannot be reached (a browser without a CORS rule on the bucket, say), the
// answer is `null` and nothing was stored: send the file another way (`putStream`,
// `uploadResumable`).

import { toBase64 } from "./bytes.js";
import { type Client, type Precondition, type VaultInfo, conditionHeader } from "./client.js";
import { CHUNK, FORMAT_VERSION, type Keys, chunkCount, sealedLength } from "./crypto.js";
import { ApiError, ProtocolError } from "./errors.js";
import { checkRevision, checkTransport } from "./verify.js";

/** The largest part this client holds in memory (a server asking for more is refused). */
const MAX_PART = 64 * 1024 * 1024;
/** Attempts at one part, each with a fresh URL. */
const ATTEMPTS = 3;

interface Created { upload_id: string; part_size: number; parts: number }
interface PartTarget { url: string; headers: Record<string, string>; length: number }

/** A direct upload's routes for `vaultId`. */
function routes(vaultId: string): string {
  return `/api/v1/vault/${encodeURIComponent(vaultId)}/direct-uploads`;
}

/**
 * Encrypts `file` and stores it as vault `vaultId` straight in the object store, if the server
 * offers that; `null` (nothing stored) when it does not or the store is out of reach.
 * `allowInsecureHttp` as for the client: plain `http://` part URLs only to loopback without it.
 */
export async function uploadDirect(
  client: Client,
  keys: Keys,
  vaultId: string,
  file: Blob,
  precondition: Precondition,
  allowInsecureHttp = false,
): Promise<VaultInfo | null> {
  const { salt, iv } = keys.freshVaultParams();
  const cipher = await keys.vaultCipher(salt, iv, vaultId, FORMAT_VERSION);
  const total = sealedLength(file.size);
  const body = JSON.stringify({ length: total, iv: toBase64(iv), salt: toBase64(salt), version: FORMAT_VERSION });
  const headers = { "content-type": "application/json", ...conditionHeader(precondition) };
  const resp = await client.request("POST", routes(vaultId), { body, headers }, [404, 409]);
  if (resp.status === 404 || resp.status === 409) {
    const problem = (await resp.json().catch(() => ({}))) as { code?: string };
    if (resp.status === 404 || problem.code === "direct_unavailable") return null;
    throw new ApiError(409, problem.code ?? "unknown", "direct upload refused");
  }
  const created = (await resp.json()) as Created;
  const expected = Math.max(1, Math.ceil(total / created.part_size));
  const base = `${routes(vaultId)}/${created.upload_id}`;
  const cancel = () => client.request("DELETE", base).catch(() => undefined);
  if (!(created.part_size > 0 && created.part_size <= MAX_PART && created.parts === expected)) {
    await cancel();
    throw new ProtocolError("direct upload parts");
  }

  const chunks = chunkCount(file.size);
  let next = 0; // the next plaintext chunk to seal
  let pending: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  const done: { etag: string; sha256: string }[] = [];
  for (let number = 1; number <= created.parts; number++) {
    const want = Math.min(created.part_size, total - (number - 1) * created.part_size);
    const pieces: Uint8Array[] = [pending];
    let have = pending.length;
    while (have < want && next < chunks) {
      const plain = new Uint8Array(await file.slice(next * CHUNK, (next + 1) * CHUNK).arrayBuffer());
      const sealed = await cipher.seal(next, plain, next === chunks - 1);
      pieces.push(sealed);
      have += sealed.length;
      next++;
    }
    const joined = concat(pieces, have);
    if (joined.length < want) {
      await cancel();
      throw new ProtocolError("the file changed while it was read");
    }
    const part = joined.subarray(0, want);
    pending = joined.slice(want);
    const sha256 = toBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", part)));
    const etag = await sendPart(client, `${base}/parts/${number}`, part, sha256, allowInsecureHttp);
    if (etag === null) {
      await cancel();
      if (number === 1) return null; // the object store is out of reach from here
      throw new ProtocolError("the object store stopped answering");
    }
    done.push({ etag, sha256 });
  }
  const commit = await client.request("POST", `${base}/commit`, {
    body: JSON.stringify({ parts: done }),
    headers: { "content-type": "application/json" },
  });
  const info = (await commit.json()) as VaultInfo;
  if (info.vault_id !== vaultId || typeof info.revision !== "number") throw new ProtocolError("write answer");
  const served = { revision: info.revision, etag: info.etag, salt: toBase64(salt) };
  checkRevision(vaultId, client.seen.get(vaultId), served);
  client.seen.set(vaultId, served);
  return info;
}

/** Asks for part URLs and sends the part there, up to three times; its ETag, or `null` when the object store never answered. */
async function sendPart(client: Client, path: string, part: Uint8Array<ArrayBuffer>, sha256: string, insecure: boolean): Promise<string | null> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const target = (await (
      await client.request("POST", path, { body: JSON.stringify({ sha256 }), headers: { "content-type": "application/json" } })
    ).json()) as PartTarget;
    if (target.length !== part.length) throw new ProtocolError("direct part length");
    checkTransport(target.url, insecure);
    let resp: Response;
    try {
      resp = await fetch(target.url, { method: "PUT", body: part, headers: target.headers, redirect: "error" });
    } catch {
      continue; // unreachable, or a browser's CORS refusal
    }
    if (resp.ok) {
      const etag = resp.headers.get("etag");
      if (!etag) return null; // a bucket whose CORS rule does not expose ETag
      return etag;
    }
    if (resp.status < 500) throw new ProtocolError(`the object store refused a part (${resp.status})`);
  }
  return null;
}

function concat(pieces: Uint8Array[], length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
