// What the browser tests share: Chromium from Debian driven by playwright-core, a proxy that
// can cut a connection mid-request, files of known content, and the CLI for interop.
//
// Environment: BLINDVAULT_URL (a running server, required), BLINDVAULT_BIN (the `blindvault`
// binary, for the CLI interop test), BLINDVAULT_ARTIFACTS (where screenshots go; default
// ../target/web-artifacts), CHROMIUM (default /usr/bin/chromium).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const SERVER = process.env.BLINDVAULT_URL ?? "";
export const ARTIFACTS =
  process.env.BLINDVAULT_ARTIFACTS ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../../target/web-artifacts");
export const MIB = 1024 * 1024;

/** Chromium, headless, from Debian's package. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** A scratch directory. */
export function scratch() {
  return mkdtemp(path.join(tmpdir(), "blindvault-web-"));
}

/** Writes `size` random bytes to `file` in 1 MiB pieces; resolves to their SHA-256 (hex). */
export async function randomFile(file, size) {
  const hash = createHash("sha256");
  const out = createWriteStream(file);
  for (let left = size; left > 0; left -= MIB) {
    const piece = randomBytes(Math.min(MIB, left));
    hash.update(piece);
    if (!out.write(piece)) await new Promise((resolve) => out.once("drain", resolve));
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return hash.digest("hex");
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256(file) {
  const hash = createHash("sha256");
  for await (const piece of createReadStream(file)) hash.update(piece);
  return hash.digest("hex");
}

/**
 * A proxy in front of SERVER on a free loopback port. It records every request (method, path,
 * Upload-Offset) and, when `cutNextPatchAfter(bytes)` was called, destroys the next PATCH's
 * connection once that many body bytes went through: a dropped connection mid-upload.
 */
export async function proxy() {
  const target = new URL(SERVER);
  const requests = [];
  let cutAfter = null;
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: req.url, offset: req.headers["upload-offset"] ?? null });
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    if (req.method === "PATCH" && cutAfter !== null) {
      const limit = cutAfter;
      cutAfter = null;
      let seen = 0;
      req.on("data", (piece) => {
        seen += piece.length;
        if (seen >= limit) {
          upstream.destroy();
          req.socket.destroy();
        }
      });
    }
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutNextPatchAfter(bytes) {
      cutAfter = bytes;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A fresh username. */
export function username(prefix = "web") {
  return `${prefix}${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

/** Saves a screenshot of `page` as ARTIFACTS/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}
