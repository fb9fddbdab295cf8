// The sent log of a resumable upload (docs/CRYPTO.md section 5): the GCM tag of every chunk
// produced, recorded before the chunk leaves, and the highest offset the server acknowledged.
// It proves that what is sent again is byte for byte what was sent: a changed file, or a
// server asking for a re-send below what it acknowledged, ends the upload instead of
// sealing other plaintext under a nonce already used.
import { equal } from "./bytes.js";
import { TAG } from "./crypto.js";
import { CannotResumeError } from "./errors.js";

/** Tags by chunk index, and the acknowledged offset. */
export class SentLog {
  private tags: Uint8Array;
  private count: number;
  /** The highest ciphertext offset the server acknowledged. */
  acknowledged: number;

  constructor(tags: Uint8Array = new Uint8Array(0), acknowledged = 0) {
    if (tags.length % TAG !== 0) throw new CannotResumeError("the saved sent log is damaged");
    this.tags = tags.slice();
    this.count = tags.length / TAG;
    this.acknowledged = acknowledged;
  }

  /** Chunks recorded. */
  get recorded(): number {
    return this.count;
  }

  /** The tags, concatenated in order (what a store keeps). */
  snapshot(): Uint8Array {
    return this.tags.slice(0, this.count * TAG);
  }

  /**
   * Checks chunk `index`'s tag against the record, or records it if it is the next new one.
   * A different tag means the plaintext changed; a gap means chunks were skipped.
   */
  checkOrRecord(index: number, tag: Uint8Array): void {
    if (index < this.count) {
      if (!equal(this.tags.subarray(index * TAG, (index + 1) * TAG), tag)) {
        throw new CannotResumeError(`chunk ${index} differs from the one sent before: the file changed`);
      }
      return;
    }
    if (index !== this.count) throw new CannotResumeError(`chunk ${index} would skip chunks ${this.count}..${index - 1}`);
    if (this.tags.length < (index + 1) * TAG) {
      const grown = new Uint8Array(Math.max((index + 1) * TAG, this.tags.length * 2));
      grown.set(this.tags);
      this.tags = grown;
    }
    this.tags.set(tag, index * TAG);
    this.count += 1;
  }

  /** Takes the server's offset: never below one acknowledged, never beyond what was produced. */
  acknowledge(offset: number, produced: number): void {
    if (offset < this.acknowledged) {
      throw new CannotResumeError(`the server went back from offset ${this.acknowledged} to ${offset}`);
    }
    if (offset > produced) throw new CannotResumeError(`the server claims offset ${offset}, beyond the ${produced} bytes sent`);
    this.acknowledged = offset;
  }
}
