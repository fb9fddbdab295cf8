#!/usr/bin/env python3
"""An independent implementation of docs/CRYPTO.md that checks its test vectors.

Needs only the standard library and `cryptography` (AES-GCM). scripts/test runs it, so the
specification, the vectors and the Rust client cannot drift apart.
"""
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 64 * 1024


def hkdf(ikm, info, n, salt=b""):
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def derive(username, password, kdf_salt, iterations):
    secret = username.lower().encode() + b"\0" + password.encode()
    master = hashlib.pbkdf2_hmac("sha256", secret, kdf_salt, iterations, 32)
    return hkdf(master, b"blindvault/v1 auth", 32), hkdf(master, b"blindvault/v1 enc", 32)


def seal(k_enc, vault_salt, iv, vault_id, version, plaintext):
    key = hkdf(k_enc, b"blindvault/v1 vault key", 32, salt=vault_salt[:16])
    aad = b"blindvault/v1" + version.to_bytes(4, "big") + vault_id.encode()
    chunks = [plaintext[i:i + CHUNK] for i in range(0, len(plaintext), CHUNK)] or [b""]
    out = b""
    for i, chunk in enumerate(chunks):
        nonce = bytearray(iv)
        for j, b in enumerate(i.to_bytes(4, "big")):
            nonce[7 + j] ^= b
        nonce[11] ^= 1 if i == len(chunks) - 1 else 0
        out += AESGCM(key).encrypt(bytes(nonce), chunk, aad)
    return out


def receipt(enc, label, *parts):
    """An HMAC receipt of section 7: strings length-prefixed, revisions 8 bytes big-endian."""
    key = hkdf(enc, b"blindvault/v1 receipt", 32)
    data = b"blindvault/v1 " + label
    for part in parts:
        data += len(part).to_bytes(4, "big") + part.encode() if isinstance(part, str) else part
    return key, hmac.new(key, data, hashlib.sha256).hexdigest()


def main():
    auth, enc = derive("alice", "correct horse battery staple", bytes(range(32)), 600000)
    assert auth.hex() == "b127b907058e1d28db7fdd4e59f6253a813591ada73eb1f6b629cdf1498e308c"
    assert enc.hex() == "609e2e810b20413457047458cc2f62c19e028b353af850a04884cae58f97c8eb"
    key_id = hkdf(enc, b"blindvault/v1 key id", 8)
    assert key_id.hex() == "3264bdf14eaed440"
    assert hkdf(enc, b"blindvault/v1 next kdf salt", 32).hex() == \
        "2ccd7488400871fe44df18d27d4e9028a7e183bc7578b3e52ca301300831d61c"
    salt = bytes(range(0x10, 0x20)) + key_id
    iv = bytes(range(0x20, 0x2C))
    assert seal(enc, salt, iv, "main", 1, b"blindvault test vector").hex() == \
        "7b8715c1194fce87c630775b0b840a7c3bcff50aba6810b29a8db8d798afeacb02c570d6f8e1"
    assert seal(enc, salt, iv, "main", 1, b"").hex() == "22e60ed785afcd6cf81cadef9fa87643"
    long = seal(enc, salt, iv, "main", 1, bytes(i % 251 for i in range(150000)))
    assert len(long) == 150048
    assert hashlib.sha256(long).hexdigest() == \
        "b8008664518269a3dd75808050c7b3f47bed5b088c4bba3c2d3e3c7c1563ba87"
    key, restore = receipt(enc, b"restore", "main", (3).to_bytes(8, "big"), salt)
    assert key.hex() == "568898899de24725b8cafabf5b2dec105a90409c17f8c26651eee1c430e34a14"
    assert restore == "a986dece16c0016a8e291a7eb6eec554a4dcb8f2532bd9a12f27396e9f3d604b"
    assert receipt(enc, b"rename", "main", "main-old")[1] == \
        "e847cd04573cc35b22bf3999e426459b77ba1305362ce65fa628e7ede06365d2"
    print("docs/CRYPTO.md: all 10 vectors match")


if __name__ == "__main__":
    main()
