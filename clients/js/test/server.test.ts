// Against a running server (BLINDVAULT_URL; skipped without it): what a Node program does with
// the SDK — streamed writes and reads, pagination, conflicts, deletes, resumable uploads,
// password changes. scripts/browser runs it on both deployments.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { Client } from "../src/client.js";
import { ApiError, ConflictError, WeakKdfError } from "../src/errors.js";
import { uploadDirect } from "../src/direct.js";
import { changePassword } from "../src/passwd.js";
import { uploadResumable } from "../src/resumable.js";
import { MemoryUploadStore } from "../src/store.js";

const SERVER = process.env["BLINDVAULT_URL"] ?? "";
const skip = SERVER ? false : "BLINDVAULT_URL is not set";

function readable(bytes: Uint8Array, piece = 100_003): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

/** Ciphertext bytes the gateway has streamed to readers so far (its own metric). */
async function downloaded(): Promise<number> {
  const text = await (await fetch(`${SERVER}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("blindvault_vault_downloaded_bytes_total "));
  return Number(line?.split(" ")[1] ?? "NaN");
}

async function account(): Promise<{ client: Client; username: string; password: string }> {
  const username = `node${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const client = new Client(SERVER);
  await client.register(username, `pw-${username}`);
  return { client, username, password: `pw-${username}` };
}

test("streamed writes and reads, conflicts, pagination and deletes from Node", { skip, timeout: 300_000 }, async () => {
  const { client, username, password } = await account();
  const { keys } = await client.login(username, password);
  const data = randomBytes(5 * 1024 * 1024 + 13);
  const v1 = await client.putStream(keys, "stream.bin", readable(data), { absent: true });
  assert.equal(v1.revision, 1);
  const { stream } = await client.getStream(keys, "stream.bin");
  assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), new Uint8Array(data));

  const v2 = await client.put(keys, "stream.bin", new Uint8Array([1, 2, 3]), { etag: v1.etag });
  await assert.rejects(client.put(keys, "stream.bin", new Uint8Array([4]), { etag: v1.etag }), (e: unknown) => {
    assert.ok(e instanceof ConflictError);
    assert.equal(e.currentEtag, v2.etag);
    return true;
  });
  assert.deepEqual((await client.get(keys, "stream.bin")).plaintext, new Uint8Array([1, 2, 3]));

  const many = Array.from({ length: 1005 }, (_, i) => `n${String(i).padStart(4, "0")}`);
  for (let i = 0; i < many.length; i += 50) {
    await Promise.all(many.slice(i, i + 50).map((id) => client.put(keys, id, new Uint8Array([i % 256]), { absent: true })));
  }
  const listed = await client.list();
  assert.equal(listed.length, 1006, "every page of the list");
  await client.delete("stream.bin", v2.etag);
  assert.equal((await client.list()).some((v) => v.vault_id === "stream.bin"), false);
  await client.logout();
});

test("a resumable upload, then a password change that re-encrypts it", { skip, timeout: 300_000 }, async () => {
  const { client, username, password } = await account();
  const { keys, kdf } = await client.login(username, password);
  const data = randomBytes(9 * 1024 * 1024 + 7);
  const store = new MemoryUploadStore();
  const file = new Blob([data]);
  await uploadResumable(client, keys, { owner: username, vaultId: "big", file, precondition: { absent: true }, store });
  assert.deepEqual(await store.list(username), [], "a finished upload leaves nothing pending");

  const next = `${password}-next`;
  const changed = await changePassword(client, { username, currentPassword: password, newPassword: next, current: kdf, store });
  const fresh = new Client(SERVER);
  await assert.rejects(fresh.login(username, password, [changed.kdf]), (e: unknown) => e instanceof ApiError && e.code === "invalid_credentials");
  await assert.rejects(new Client(SERVER).login(username, next, [kdf]), WeakKdfError, "a pin of the old salt refuses the new one");
  const relogged = await fresh.login(username, next, [changed.kdf]);
  assert.deepEqual((await fresh.get(relogged.keys, "big")).plaintext, new Uint8Array(data));
});

test("large vaults come straight from the object store where the server offers that", { skip, timeout: 120_000 }, async () => {
  const { client, username, password } = await account();
  const { keys } = await client.login(username, password);
  // Above the default JSON limit (16 MiB): read through the content route.
  const data = randomBytes(16 * 1024 * 1024 + 100_005);
  await client.putStream(keys, "direct.bin", readable(data), { absent: true });
  const before = await downloaded();
  const { plaintext } = await client.get(keys, "direct.bin");
  assert.deepEqual(Buffer.from(plaintext), data);
  const through = (await downloaded()) - before;
  if (process.env["BLINDVAULT_DEPLOYMENT"] === "production") assert.equal(through, 0, "S3: a direct download");
  else assert.ok(through >= data.length, "local files: through the gateway");
});

test("files go straight to the object store in parts where the server offers that", { skip, timeout: 120_000 }, async () => {
  // Every byte this client sends to the gateway, counted.
  let toGateway = 0;
  const counting: typeof fetch = (input, init) => {
    const body = init?.body;
    if (typeof body === "string") toGateway += body.length;
    else if (body instanceof Uint8Array) toGateway += body.length;
    return fetch(input, init);
  };
  const username = `direct${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const client = new Client(SERVER, { fetch: counting });
  await client.register(username, `pw-${username}`);
  const { keys } = await client.login(username, `pw-${username}`);
  const data = randomBytes(9 * 1024 * 1024 + 7); // two parts
  toGateway = 0;
  const info = await uploadDirect(client, keys, "direct-up.bin", new Blob([data]), { absent: true });
  if (process.env["BLINDVAULT_DEPLOYMENT"] === "production") {
    assert.ok(info !== null && info.revision === 1, "S3: a direct upload");
    assert.ok(toGateway < 10_000, `${toGateway} bytes went to the gateway`);
    const { plaintext } = await client.get(keys, "direct-up.bin");
    assert.deepEqual(Buffer.from(plaintext), data);
  } else {
    assert.equal(info, null, "local files: not offered, nothing stored");
    await assert.rejects(client.get(keys, "direct-up.bin"), ApiError);
  }
});
