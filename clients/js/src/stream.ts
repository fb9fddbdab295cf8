// Streaming encryption and decryption as Web Streams: one 64 KiB chunk in memory at a time,
// whatever the size, and input in pieces of any size.
import { concat } from "./bytes.js";
import { CHUNK, SEALED_CHUNK, TAG, type VaultCipher } from "./crypto.js";
import { TamperedError } from "./errors.js";

/** Collects pieces until more than `size` bytes are held, so the last chunk is known at the end. */
class Pending {
  private parts: Uint8Array[] = [];
  private held = 0;

  push(piece: Uint8Array): void {
    this.parts.push(piece);
    this.held += piece.length;
  }

  /** Takes `size` bytes if more than `size` are held (the rest may still be the last chunk). */
  takeIfMore(size: number): Uint8Array | null {
    if (this.held <= size) return null;
    const all = concat(...this.parts);
    this.parts = [all.subarray(size)];
    this.held -= size;
    return all.subarray(0, size);
  }

  rest(): Uint8Array {
    const all = concat(...this.parts);
    this.parts = [];
    this.held = 0;
    return all;
  }
}

/** A stream of plaintext in, the revision's ciphertext out. */
export function encryptStream(cipher: VaultCipher): TransformStream<Uint8Array, Uint8Array> {
  const pending = new Pending();
  let index = 0;
  return new TransformStream({
    async transform(piece, controller) {
      pending.push(piece);
      for (let chunk = pending.takeIfMore(CHUNK); chunk; chunk = pending.takeIfMore(CHUNK)) {
        controller.enqueue(await cipher.seal(index++, chunk, false));
      }
    },
    async flush(controller) {
      controller.enqueue(await cipher.seal(index++, pending.rest(), true));
    },
  });
}

/**
 * A stream of ciphertext in, plaintext out; fails with a [`TamperedError`] on any altered,
 * missing, reordered or cut chunk. Nothing of a chunk is released before it authenticates.
 */
export function decryptStream(cipher: VaultCipher): TransformStream<Uint8Array, Uint8Array> {
  const pending = new Pending();
  let index = 0;
  return new TransformStream({
    async transform(piece, controller) {
      pending.push(piece);
      for (let sealed = pending.takeIfMore(SEALED_CHUNK); sealed; sealed = pending.takeIfMore(SEALED_CHUNK)) {
        controller.enqueue(await cipher.open(index++, sealed, false));
      }
    },
    async flush(controller) {
      const last = pending.rest();
      if (last.length < TAG) throw new TamperedError("the ciphertext ends inside a tag: it was cut");
      controller.enqueue(await cipher.open(index++, last, true));
    },
  });
}
