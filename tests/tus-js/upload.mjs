// Interop test: the official tus-js-client uploads a file to blindvault,
// is aborted part-way, resumes from the stored upload URL and finishes.
//
// Usage: node upload.mjs BASE_URL TOKEN FILE VAULT_ID
// Prints one JSON line on success and exits 0; exits 1 with a message otherwise.
// Set TUS_DEBUG=1 to log every request/response tus-js-client makes.
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tus from 'tus-js-client';

const [baseUrl, token, file, vaultId] = process.argv.slice(2);
if (!baseUrl || !token || !file || !vaultId) {
  console.error('usage: node upload.mjs BASE_URL TOKEN FILE VAULT_ID');
  process.exit(1);
}

const base = baseUrl.replace(/\/+$/, '');
const endpoint = `${base}/api/v1/uploads`;
const auth = { Authorization: `Bearer ${token}` };
const fileBytes = readFileSync(file);
const size = fileBytes.length;
const ABORT_AT = 0.4; // abort once 40% of the bytes have been sent

// Resume state lives in a throw-away JSON file, as a real Node app would keep it.
const stateDir = mkdtempSync(join(tmpdir(), 'tusjs-'));
const urlStorage = new tus.FileUrlStorage(join(stateDir, 'uploads.json'));

function options(extra) {
  return {
    endpoint,
    headers: auth,
    chunkSize: 5 * 1024 * 1024,
    // Fail loudly instead of hiding server errors behind retries.
    retryDelays: null,
    urlStorage,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    metadata: {
      vault_id: vaultId,
      // tus-js-client base64-encodes these; the server needs 8..64 raw bytes.
      iv: 'ivivivivivivivivivivivi1',
      salt: 'saltsaltsaltsalt',
      if_none_match: '*',
    },
    onBeforeRequest(req) {
      if (process.env.TUS_DEBUG) console.error('>', req.getMethod(), req.getURL());
    },
    onAfterResponse(req, res) {
      if (process.env.TUS_DEBUG) {
        console.error('<', res.getStatus(), 'offset', res.getHeader('Upload-Offset') ?? '-');
      }
    },
    ...extra,
  };
}

// Phase 1: start a fresh upload and abort it (without terminating) at ~40%.
async function uploadUntilAbort() {
  return new Promise((resolve, reject) => {
    let aborting = false;
    const upload = new tus.Upload(createReadStream(file), options({
      onError: reject,
      onSuccess: () => reject(new Error('first upload finished before it could be aborted')),
      onProgress(sent) {
        if (aborting || sent < size * ABORT_AT) return;
        aborting = true;
        upload.abort(false).then(() => resolve(upload.url), reject);
      },
    }));
    upload.start();
  });
}

// Phase 2: a NEW Upload object finds the stored URL and resumes from it.
async function resumeAndFinish(firstUrl) {
  let firstProgress = null;
  let settle;
  const finished = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  const upload = new tus.Upload(createReadStream(file), options({
    onError: (err) => settle.reject(err),
    onSuccess: ({ lastResponse }) => settle.resolve(lastResponse.getHeader('ETag')),
    onProgress(sent) {
      if (firstProgress === null) firstProgress = sent;
    },
  }));
  const previous = await upload.findPreviousUploads();
  if (previous.length === 0) throw new Error('findPreviousUploads() found nothing');
  upload.resumeFromPreviousUpload(previous[0]);

  // Ask the server where it stands before resuming.
  const uploadUrl = new URL(previous[0].uploadUrl, endpoint).href;
  if (uploadUrl !== firstUrl) throw new Error(`stored URL ${uploadUrl} != ${firstUrl}`);
  const head = await fetch(uploadUrl, {
    method: 'HEAD',
    headers: { ...auth, 'Tus-Resumable': '1.0.0' },
  });
  const resumedFrom = Number(head.headers.get('upload-offset'));
  if (head.status !== 200 || !(resumedFrom > 0)) {
    throw new Error(`HEAD ${uploadUrl}: status ${head.status}, Upload-Offset ${resumedFrom}`);
  }

  upload.start();
  const etag = await finished;
  if (upload.url !== firstUrl) throw new Error(`resumed into a new upload ${upload.url}`);
  if (firstProgress !== null && firstProgress < resumedFrom) {
    throw new Error(`restarted at ${firstProgress}, expected >= ${resumedFrom}`);
  }
  if (!etag) throw new Error('final PATCH response carried no ETag');
  return { resumedFrom, etag };
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

try {
  const firstUrl = await uploadUntilAbort();
  if (!firstUrl) throw new Error('first upload has no URL after abort');
  const { resumedFrom, etag } = await resumeAndFinish(firstUrl);

  const res = await fetch(`${base}/api/v1/vault/${encodeURIComponent(vaultId)}/content`, {
    headers: auth,
  });
  if (res.status !== 200) throw new Error(`GET content: status ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  const match = body.length === size && sha256(body) === sha256(fileBytes);
  console.log(JSON.stringify({ resumed_from: resumedFrom, size, etag, match }));
  process.exitCode = match ? 0 : 1;
  if (!match) console.error(`content mismatch: got ${body.length} bytes, expected ${size}`);
} catch (err) {
  console.error(`tus-js upload failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}
