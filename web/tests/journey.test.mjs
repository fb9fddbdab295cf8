// The whole journey of a person using the web vault, in Chromium, against a real server:
// register, upload a small and a large file (resumable, through a dropped connection), reload,
// download both and compare bytes, meet another device's write as a conflict, change the
// password, and never send the password anywhere.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";

import { MIB, SERVER, launch, proxy, randomFile, scratch, screenshot, sha256, username } from "./harness.mjs";
import { choose, download, login, loginRefused, open, register, row, stored, upload } from "./page.mjs";

/** A line on stderr per stage, to see where a long run is. */
const step = (what) => console.error(`[journey] ${new Date().toISOString()} ${what}`);
const BIG = Number(process.env.BLINDVAULT_WEB_BIG_MIB ?? 200) * MIB;
const skip = SERVER ? false : "BLINDVAULT_URL is not set";
let browser;
let dir;
let gate;

before(async () => {
  if (skip) return;
  browser = await launch();
  dir = await scratch();
  gate = await proxy();
});

after(async () => {
  await browser?.close();
  await gate?.close();
});

test("register, upload, reload, download, conflict, change password", { skip, timeout: 1_800_000 }, async () => {
  const user = username();
  const password = `pw-${user}-correct horse`;
  const small = path.join(dir, "small.bin");
  const big = path.join(dir, "big.bin");
  const smallHash = await randomFile(small, 5 * MIB);
  const bigHash = await randomFile(big, BIG);

  const laptop = await browser.newContext({ acceptDownloads: true });
  const { page, requests } = await open(laptop, gate.url);
  await screenshot(page, "1-login");
  await register(page, user, password);
  step("registered");
  await upload(page, small);
  step("small stored");
  // The large file goes resumable; its first PATCH loses its connection a few MiB in, and the
  // upload carries on by itself from the offset the server kept.
  gate.cutNextPatchAfter(3 * MIB);
  await upload(page, big);
  step("big stored");
  const patches = gate.requests.filter((r) => r.method === "PATCH");
  assert.ok(patches.some((r) => Number(r.offset) > 0), "the upload resumed after the cut");
  await screenshot(page, "2-files");

  await page.reload();
  await login(page, user, password);
  step("logged in again");
  await row(page, "small.bin").waitFor();
  await row(page, "big.bin").waitFor();
  assert.equal(await sha256(await download(page, "small.bin", dir)), smallHash);
  assert.equal(await sha256(await download(page, "big.bin", dir)), bigHash);

  step("both downloaded and compared");
  // Another device replaces small.bin; this page, still showing the old revision, is told.
  const phone = await browser.newContext({ acceptDownloads: true, viewport: { width: 390, height: 844 } });
  const other = await open(phone, gate.url);
  await login(other.page, user, password);
  const newer = path.join(dir, "small.bin");
  const newerHash = await randomFile(newer, 5 * MIB);
  await upload(other.page, newer);
  await screenshot(other.page, "3-phone");
  await choose(page, newer);
  const conflict = page.getByRole("alert");
  await conflict.filter({ hasText: "changed on another device" }).waitFor();
  await screenshot(page, "4-conflict");
  step("conflict shown");

  // A new password: everything is re-encrypted, the old password stops working, and the files
  // read back unchanged.
  const newPassword = `${password} but longer`;
  await page.getByText("Change password").click();
  await page.getByLabel("Current password").fill(password);
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("New password again").fill(newPassword);
  await page.getByRole("button", { name: "Re-encrypt everything and change" }).click();
  await page.getByRole("status").filter({ hasText: "Password changed" }).waitFor({ timeout: 600_000 });
  await page.getByRole("button", { name: "Log out" }).click();
  assert.match(await loginRefused(page, user, password), /wrong username or password/i);
  step("old password refused");
  await login(page, user, newPassword);
  assert.equal(await sha256(await download(page, "small.bin", dir)), newerHash);
  assert.equal(await sha256(await download(page, "big.bin", dir)), bigHash);

  // The password never left the page, and the page spoke to its own origin only.
  for (const { url, body, headers } of [...requests, ...other.requests]) {
    assert.ok(url.startsWith(`${gate.url}/`) || url.startsWith("blob:"), `request to another origin: ${url}`);
    for (const secret of [password, newPassword]) {
      assert.ok(!url.includes(encodeURIComponent(secret)) && !body.includes(secret), `the password was sent to ${url}`);
      assert.ok(!JSON.stringify(headers).includes(secret), `the password was sent in a header to ${url}`);
    }
  }
  await phone.close();
  await laptop.close();
});

test("a reload mid-upload continues the same upload", { skip, timeout: 1_800_000 }, async () => {
  const user = username("reload");
  const password = `pw-${user}`;
  const big = path.join(dir, "reload.bin");
  const hash = await randomFile(big, BIG);
  const context = await browser.newContext({ acceptDownloads: true });
  const { page } = await open(context, gate.url);
  await register(page, user, password);

  await choose(page, big);
  const progress = page.getByRole("progressbar");
  await page.waitForFunction(
    () => Number(document.querySelector("progress")?.getAttribute("value") ?? 0) > 0.25,
    null,
    { timeout: 600_000, polling: 200 },
  );
  assert.ok(await progress.isVisible());
  await page.reload();
  await login(page, user, password);
  await page.getByRole("alert").filter({ hasText: "reload.bin" }).waitFor();
  const before = gate.requests.length;
  await choose(page, big);
  await stored(page, "reload.bin");
  const since = gate.requests.slice(before);
  assert.ok(!since.some((r) => r.method === "POST" && r.path?.startsWith("/api/v1/uploads")), "no new upload");
  const first = since.find((r) => r.method === "PATCH");
  assert.ok(first && Number(first.offset) > 0, `continued from the offset the server kept: ${JSON.stringify(first)}`);
  assert.equal(await sha256(await download(page, "reload.bin", dir)), hash);
  await context.close();
});
