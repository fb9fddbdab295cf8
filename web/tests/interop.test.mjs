// The page and the Rust CLI read each other's vaults: one format (docs/CRYPTO.md), two
// implementations (WebCrypto and RustCrypto).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { MIB, SERVER, launch, randomFile, scratch, sha256, username } from "./harness.mjs";
import { download, login, open, row, upload } from "./page.mjs";

const run = promisify(execFile);
const BIN = process.env.BLINDVAULT_BIN ?? "";
const skip = !SERVER ? "BLINDVAULT_URL is not set" : !BIN ? "BLINDVAULT_BIN is not set" : false;
let browser;
let dir;

before(async () => {
  if (skip) return;
  browser = await launch();
  dir = await scratch();
});

after(async () => {
  await browser?.close();
});

test("a vault the CLI wrote opens in the page, and the reverse", { skip, timeout: 600_000 }, async () => {
  const user = username("interop");
  const password = `pw-${user}`;
  const env = { ...process.env, BLINDVAULT_PASSWORD: password, BLINDVAULT_CONFIG_DIR: path.join(dir, "cli") };
  const cli = (...args) => run(BIN, args, { env, maxBuffer: 16 * MIB });

  const fromCli = path.join(dir, "from-cli.bin");
  const cliHash = await randomFile(fromCli, 3 * MIB + 17);
  await cli("register", user, "--server", SERVER);
  await cli("put", fromCli);

  const context = await browser.newContext({ acceptDownloads: true });
  const { page } = await open(context, SERVER);
  await login(page, user, password);
  await row(page, "from-cli.bin").waitFor();
  assert.equal(await sha256(await download(page, "from-cli.bin", dir)), cliHash);

  const fromPage = path.join(dir, "from-page.bin");
  const pageHash = await randomFile(fromPage, 2 * MIB + 5);
  await upload(page, fromPage);
  const out = path.join(dir, "read-by-cli.bin");
  await cli("get", "from-page.bin", "--output", out);
  assert.equal(await sha256(out), pageHash);
  await context.close();
});
