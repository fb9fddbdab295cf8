// docs/CRYPTO.md, format 1, over WebCrypto: keys from the password (PBKDF2-SHA256, HKDF) and
// one vault revision sealed as 64 KiB AES-256-GCM chunks (the STREAM construction).
import { be32, concat, equal, source, utf8 } from "./bytes.js";
import { OtherKeyError, TamperedError } from "./errors.js";

/** Plaintext bytes per chunk. */
export const CHUNK = 65_536;
/** GCM tag bytes. */
export const TAG = 16;
/** Sealed bytes per full chunk. */
export const SEALED_CHUNK = CHUNK + TAG;
/** The format version this client writes. */
export const FORMAT_VERSION = 1;
/** KDF salt bytes a new account gets. */
export const KDF_SALT_LEN = 32;
/** Random bytes in a vault salt (the key id follows). */
export const VAULT_SALT_RANDOM = 16;
/** IV bytes. */
export const IV_LEN = 12;

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const ZERO_SALT = new Uint8Array(32);

async function hkdfBits(key: CryptoKey, salt: Uint8Array, info: string, bytes: number): Promise<Uint8Array> {
  const bits = await subtle().deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: source(salt), info: source(utf8(info)) },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

function hkdfKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey("raw", source(raw), "HKDF", false, ["deriveBits", "deriveKey"]);
}

/** The secret material of section 1, before K_enc becomes a non-extractable key. For tests. */
export async function deriveMaterial(
  username: string,
  password: string,
  kdfSalt: Uint8Array,
  iterations: number,
): Promise<{ authHash: Uint8Array; encKey: Uint8Array }> {
  const input = concat(utf8(username.toLowerCase()), new Uint8Array([0]), utf8(password));
  const pbkdf2 = await subtle().importKey("raw", source(input), "PBKDF2", false, ["deriveBits"]);
  input.fill(0);
  const master = new Uint8Array(
    await subtle().deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: source(kdfSalt), iterations }, pbkdf2, 256),
  );
  const masterKey = await hkdfKey(master);
  master.fill(0);
  return {
    authHash: await hkdfBits(masterKey, ZERO_SALT, "blindvault/v1 auth", 32),
    encKey: await hkdfBits(masterKey, ZERO_SALT, "blindvault/v1 enc", 32),
  };
}

/**
 * The two secrets of a password: `authHash` goes to the server; K_enc never leaves this
 * object (a non-extractable WebCrypto key), and `keyId` names it without revealing it.
 */
export class Keys {
  private constructor(
    /** H_auth, sent (base64) to log in. */
    readonly authHash: Uint8Array,
    private readonly enc: CryptoKey,
    /** HKDF(K_enc, "blindvault/v1 key id", 8). */
    readonly keyId: Uint8Array,
  ) {}

  /** Derives the keys of `username`/`password` under the account's KDF salt and iterations. */
  static async derive(username: string, password: string, kdfSalt: Uint8Array, iterations: number): Promise<Keys> {
    const { authHash, encKey } = await deriveMaterial(username, password, kdfSalt, iterations);
    const enc = await hkdfKey(encKey);
    encKey.fill(0);
    return new Keys(authHash, enc, await hkdfBits(enc, ZERO_SALT, "blindvault/v1 key id", 8));
  }

  /** The KDF salt a password change moves to (section 4): deterministic, so a rerun resumes. */
  nextKdfSalt(): Promise<Uint8Array> {
    return hkdfBits(this.enc, ZERO_SALT, "blindvault/v1 next kdf salt", 32);
  }

  /** A fresh vault salt (16 random bytes ‖ key id) and IV for one revision. */
  freshVaultParams(): { salt: Uint8Array; iv: Uint8Array } {
    const random = globalThis.crypto.getRandomValues(new Uint8Array(VAULT_SALT_RANDOM));
    return { salt: concat(random, this.keyId), iv: globalThis.crypto.getRandomValues(new Uint8Array(IV_LEN)) };
  }

  /** The cipher of one revision; refuses a salt made under another key. */
  async vaultCipher(salt: Uint8Array, iv: Uint8Array, vaultId: string, version: number): Promise<VaultCipher> {
    if (salt.length !== VAULT_SALT_RANDOM + 8 || !equal(salt.subarray(VAULT_SALT_RANDOM), this.keyId)) {
      throw new OtherKeyError(`vault ${vaultId} is encrypted under another key than this password's`);
    }
    if (iv.length !== IV_LEN) throw new TamperedError(`vault ${vaultId} has a ${iv.length}-byte IV`);
    const key = await subtle().deriveKey(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: source(salt.subarray(0, VAULT_SALT_RANDOM)),
        info: source(utf8("blindvault/v1 vault key")),
      },
      this.enc,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
    return new VaultCipher(key, iv.slice(), concat(utf8("blindvault/v1"), be32(version), utf8(vaultId)));
  }
}

/** The key id a vault salt names (its last 8 bytes). */
export function keyIdOf(salt: Uint8Array): Uint8Array {
  return salt.subarray(VAULT_SALT_RANDOM);
}

/** Ciphertext length of `plaintextLen` bytes. */
export function sealedLength(plaintextLen: number): number {
  return plaintextLen + TAG * Math.max(1, Math.ceil(plaintextLen / CHUNK));
}

/** Chunks in a revision of `plaintextLen` bytes (an empty one is one empty chunk). */
export function chunkCount(plaintextLen: number): number {
  return Math.max(1, Math.ceil(plaintextLen / CHUNK));
}

/** AES-256-GCM under one revision's key: chunk `i` with the nonce and AAD of section 2. */
export class VaultCipher {
  constructor(
    private readonly key: CryptoKey,
    private readonly iv: Uint8Array,
    private readonly aad: Uint8Array,
  ) {}

  private nonce(index: number, last: boolean): Uint8Array {
    const nonce = this.iv.slice();
    const counter = concat(be32(index), new Uint8Array([last ? 1 : 0]));
    for (let i = 0; i < 5; i++) nonce[7 + i]! ^= counter[i]!;
    return nonce;
  }

  /** Seals chunk `index` (`last` for the final one). */
  async seal(index: number, chunk: Uint8Array, last: boolean): Promise<Uint8Array> {
    const params = { name: "AES-GCM", iv: source(this.nonce(index, last)), additionalData: source(this.aad) };
    return new Uint8Array(await subtle().encrypt(params, this.key, source(chunk)));
  }

  /** Opens chunk `index`; a wrong key, nonce, position or byte is a [`TamperedError`]. */
  async open(index: number, sealed: Uint8Array, last: boolean): Promise<Uint8Array> {
    const params = { name: "AES-GCM", iv: source(this.nonce(index, last)), additionalData: source(this.aad) };
    try {
      return new Uint8Array(await subtle().decrypt(params, this.key, source(sealed)));
    } catch {
      throw new TamperedError(`chunk ${index} does not authenticate: the ciphertext was altered, cut or reordered`);
    }
  }

  /** Seals a whole plaintext held in memory. */
  async sealAll(plaintext: Uint8Array): Promise<Uint8Array> {
    const count = chunkCount(plaintext.length);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      parts.push(await this.seal(i, plaintext.subarray(i * CHUNK, (i + 1) * CHUNK), i === count - 1));
    }
    return concat(...parts);
  }

  /** Opens a whole ciphertext held in memory. */
  async openAll(ciphertext: Uint8Array): Promise<Uint8Array> {
    if (ciphertext.length < TAG) throw new TamperedError("the ciphertext is shorter than one tag");
    const count = Math.max(1, Math.ceil(ciphertext.length / SEALED_CHUNK));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const sealed = ciphertext.subarray(i * SEALED_CHUNK, (i + 1) * SEALED_CHUNK);
      if (sealed.length < TAG) throw new TamperedError("the last chunk is shorter than a tag");
      parts.push(await this.open(i, sealed, i === count - 1));
    }
    return concat(...parts);
  }
}
