// The client's rules: KDF floor and pinning, transport, rollback, the sent log, paths.
import assert from "node:assert/strict";
import { test } from "node:test";

import { vaultPath } from "../src/client.js";
import { CannotResumeError, InsecureTransportError, RollbackError, WeakKdfError } from "../src/errors.js";
import { SentLog } from "../src/sentlog.js";
import { KDF, type KdfParams, checkKdf, checkRevision, checkTransport } from "../src/verify.js";
import { fromBase64, toBase64 } from "../src/bytes.js";

const params = (kdf: string, iterations: number, fill: number, len = 32): KdfParams => ({
  kdf, iterations, salt: new Uint8Array(len).fill(fill),
});

test("weak or changed KDF parameters are refused", () => {
  const pin = params(KDF, 650_000, 7);
  checkKdf(pin, []);
  const pins = [pin, params(KDF, 600_000, 6)];
  checkKdf(params(KDF, 700_000, 7), pins);
  checkKdf(params(KDF, 600_000, 6), pins);
  for (const bad of [params(KDF, 1, 7), params("argon2id", 650_000, 7), params(KDF, 650_000, 7, 8), params(KDF, 650_000, 8), params(KDF, 600_000, 7)]) {
    assert.throws(() => checkKdf(bad, pins), WeakKdfError);
  }
});

test("plain http only to loopback", () => {
  for (const ok of ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:1", "https://vault.example"]) checkTransport(ok, false);
  assert.throws(() => checkTransport("http://vault.example", false), InsecureTransportError);
  checkTransport("http://vault.example", true);
});

test("reads never go behind a revision seen", () => {
  const seen = { revision: 5, etag: '"e5"', salt: "c2FsdA==" };
  checkRevision("v", seen, { revision: 6, etag: '"e6"', salt: "b3RoZXI=" });
  checkRevision("v", seen, { ...seen });
  assert.throws(() => checkRevision("v", seen, { ...seen, revision: 4 }), RollbackError);
  assert.throws(() => checkRevision("v", seen, { ...seen, etag: '"x"' }), RollbackError);
  assert.throws(() => checkRevision("v", seen, { ...seen, salt: "eA==" }), RollbackError);
});

test("the sent log records in order, checks on resend, and never goes back", () => {
  const tag = (n: number) => new Uint8Array(16).fill(n);
  const log = new SentLog();
  log.checkOrRecord(0, tag(1));
  log.checkOrRecord(1, tag(2));
  log.checkOrRecord(0, tag(1));
  assert.throws(() => log.checkOrRecord(1, tag(9)), CannotResumeError, "the file changed");
  assert.throws(() => log.checkOrRecord(3, tag(4)), CannotResumeError, "no gaps");
  log.acknowledge(65_552, 2 * 65_552);
  assert.throws(() => log.acknowledge(0, 2 * 65_552), CannotResumeError, "backwards");
  assert.throws(() => log.acknowledge(3 * 65_552, 2 * 65_552), CannotResumeError, "beyond what was sent");
  const again = new SentLog(log.snapshot(), log.acknowledged);
  assert.equal(again.recorded, 2);
  assert.throws(() => again.checkOrRecord(0, tag(7)), CannotResumeError);
});

test("vault ids are one path segment; base64 is strict", () => {
  assert.equal(vaultPath("main-1.x_y"), "/api/v1/vault/main-1.x_y");
  assert.equal(vaultPath("a/../b?c", "/content"), "/api/v1/vault/a%2F..%2Fb%3Fc/content");
  assert.deepEqual(fromBase64(toBase64(Uint8Array.from([0, 1, 254, 255]))), Uint8Array.from([0, 1, 254, 255]));
  assert.throws(() => fromBase64("abc"), TypeError);
  assert.throws(() => fromBase64("ab=c"), TypeError);
  const large = new Uint8Array(8 * 1024 * 1024).fill(7);
  assert.deepEqual(fromBase64(toBase64(large)), large, "megabytes decode without overflowing the stack");
});
