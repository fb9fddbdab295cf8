// docs/CRYPTO.md section 6, checked with WebCrypto, and the chunk format's guarantees.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { concat, fromHex, toHex } from "../src/bytes.js";
import { Keys, deriveMaterial, sealedLength } from "../src/crypto.js";
import { OtherKeyError, TamperedError } from "../src/errors.js";
import { decryptStream, encryptStream } from "../src/stream.js";

const KDF_SALT = Uint8Array.from({ length: 32 }, (_, i) => i);
const RANDOM16 = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
const IV = Uint8Array.from({ length: 12 }, (_, i) => 0x20 + i);
const USER = "alice";
const PASSWORD = "correct horse battery staple";

let keysOnce: Promise<Keys> | null = null;
const keys = () => (keysOnce ??= Keys.derive(USER, PASSWORD, KDF_SALT, 600_000));
const cipher = async () => {
  const k = await keys();
  return k.vaultCipher(concat(RANDOM16, k.keyId), IV, "main", 1);
};

test("the vectors of docs/CRYPTO.md section 6", async () => {
  const material = await deriveMaterial("Alice", PASSWORD, KDF_SALT, 600_000); // lowercased
  assert.equal(toHex(material.authHash), "b127b907058e1d28db7fdd4e59f6253a813591ada73eb1f6b629cdf1498e308c");
  assert.equal(toHex(material.encKey), "609e2e810b20413457047458cc2f62c19e028b353af850a04884cae58f97c8eb");
  const k = await keys();
  assert.equal(toHex(k.authHash), toHex(material.authHash));
  assert.equal(toHex(k.keyId), "3264bdf14eaed440");
  assert.equal(toHex(await k.nextKdfSalt()), "2ccd7488400871fe44df18d27d4e9028a7e183bc7578b3e52ca301300831d61c");
  assert.equal(toHex(concat(RANDOM16, k.keyId)), "101112131415161718191a1b1c1d1e1f3264bdf14eaed440");
  const c = await cipher();
  assert.equal(
    toHex(await c.sealAll(new TextEncoder().encode("blindvault test vector"))),
    "7b8715c1194fce87c630775b0b840a7c3bcff50aba6810b29a8db8d798afeacb02c570d6f8e1",
  );
  assert.equal(toHex(await c.sealAll(new Uint8Array(0))), "22e60ed785afcd6cf81cadef9fa87643");
  const big = Uint8Array.from({ length: 150_000 }, (_, i) => i % 251);
  const sealed = await c.sealAll(big);
  assert.equal(sealed.length, 150_048);
  assert.equal(sealedLength(150_000), 150_048);
  assert.equal(createHash("sha256").update(sealed).digest("hex"), "b8008664518269a3dd75808050c7b3f47bed5b088c4bba3c2d3e3c7c1563ba87");
  assert.equal(toHex(sealed.subarray(0, 16)), "639812b161ec84804eb0f178bec309bb");
  assert.equal(toHex(sealed.subarray(-16)), "2693b1c010978cab3db4b32f329def8e");
  assert.deepEqual(await c.openAll(sealed), big);
});

async function through(stream: TransformStream<Uint8Array, Uint8Array>, input: Uint8Array, piece: number): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < input.length; i += piece) pieces.push(input.slice(i, i + piece));
  if (pieces.length === 0) pieces.push(new Uint8Array(0));
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of pieces) controller.enqueue(p);
      controller.close();
    },
  });
  return new Uint8Array(await new Response(readable.pipeThrough(stream)).arrayBuffer());
}

test("streams match the whole-buffer format at every chunk boundary, input in odd pieces", async () => {
  const c = await cipher();
  for (const size of [0, 1, 65_535, 65_536, 65_537, 150_000]) {
    const plain = Uint8Array.from({ length: size }, (_, i) => (i * 7) % 256);
    for (const piece of [1000, 65_536, 70_001]) {
      const sealed = await through(encryptStream(c), plain, piece);
      assert.equal(toHex(sealed), toHex(await c.sealAll(plain)), `size ${size}, pieces of ${piece}`);
      assert.deepEqual(await through(decryptStream(c), sealed, piece + 3), plain);
    }
  }
});

test("tampering, truncation, reordering and another vault are detected", async () => {
  const c = await cipher();
  const plain = Uint8Array.from({ length: 140_000 }, (_, i) => i % 256);
  const sealed = await c.sealAll(plain);
  const flipped = sealed.slice();
  flipped[100] = flipped[100]! ^ 1;
  const cut = sealed.slice(0, 2 * 65_552); // ends on a boundary, without the last chunk
  const swapped = concat(sealed.subarray(65_552, 131_104), sealed.subarray(0, 65_552), sealed.subarray(131_104));
  for (const bad of [flipped, cut, swapped, sealed.subarray(0, sealed.length - 1)]) {
    await assert.rejects(through(decryptStream(c), bad, 4096), TamperedError);
    await assert.rejects(c.openAll(bad), TamperedError);
  }
  const k = await keys();
  const other = await k.vaultCipher(concat(RANDOM16, k.keyId), IV, "other", 1);
  await assert.rejects(other.openAll(sealed), TamperedError);
  const stranger = await Keys.derive("bob", "pw", KDF_SALT, 1000);
  await assert.rejects(stranger.vaultCipher(concat(RANDOM16, k.keyId), IV, "main", 1), OtherKeyError);
  assert.deepEqual(fromHex("00ff"), Uint8Array.from([0, 255]));
});
