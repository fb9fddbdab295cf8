// Second factors in the web page, in Chromium, against a real server: a security key
// registered and used through Chromium's virtual authenticator (the DevTools protocol's
// WebAuthn domain), an authenticator app's codes (computed here as the app would), recovery
// codes, and the sessions list. WebAuthn needs a domain, so the page is opened at localhost:
// the origin the server's default BLINDVAULT_PUBLIC_URL names.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";

import { SERVER, launch, screenshot, username } from "./harness.mjs";
import { open, register } from "./page.mjs";

const skip = SERVER ? false : "BLINDVAULT_URL is not set";
const BASE = SERVER.replace("//127.0.0.1:", "//localhost:");
let browser;

before(async () => {
  if (!skip) browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** RFC 4648 base32, as authenticator apps read secrets. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, "")) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The code an authenticator app shows for `secret`, `steps` 30-second steps from now (RFC 6238). */
function totp(secret, steps = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + steps));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

async function credentials(page, user, password, button = "Log in") {
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: button }).click();
}

async function logOut(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

const files = (page) => page.getByRole("heading", { name: "Files" }).waitFor();

test("a security key, an authenticator app and recovery codes guard the login", { skip, timeout: 300_000 }, async () => {
  const user = username("mfa");
  const password = `pw-${user}-second factors`;
  const context = await browser.newContext();
  const { page, requests } = await open(context, BASE);
  const devtools = await context.newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  const { authenticatorId } = await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await register(page, user, password);

  // A security key: registered through the virtual authenticator, then asked for at login.
  await page.getByText("Sign-in security").click();
  await page.getByText("No second factor").waitFor();
  await page.getByLabel("Your password (to change second factors)").fill(password);
  await page.getByLabel("Security key or passkey name").fill("virtual key");
  await page.getByRole("button", { name: "Add a security key" }).click();
  await page.getByText("virtual key, added").waitFor();
  const codes = await page.locator("#recovery-codes li").allInnerTexts();
  assert.equal(codes.length, 10, "the first factor brings recovery codes");
  const held = await devtools.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(held.credentials.length, 1, "the authenticator holds the new credential");
  await screenshot(page, "mfa-1-security");

  await logOut(page);
  await credentials(page, user, password);
  await page.getByRole("button", { name: "Use a security key" }).click();
  await files(page);
  const used = await devtools.send("WebAuthn.getCredentials", { authenticatorId });
  assert.ok(used.credentials[0].signCount > held.credentials[0].signCount, "the key signed the login");

  // An authenticator app beside it; its code opens the next login.
  await page.getByText("Sign-in security").click();
  await page.getByLabel("Your password (to change second factors)").fill(password);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await page.getByLabel("The app's code").waitFor();
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.getByLabel("The app's code").fill(totp(secret));
  await page.getByRole("button", { name: "Turn it on" }).click();
  await page.getByText("Second factor on: authenticator app, 1 security key(s); 10 recovery codes left").waitFor();
  await logOut(page);
  await credentials(page, user, password);
  const code = page.getByLabel("Code from your authenticator app, or a recovery code");
  await code.fill("000000");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
  await code.fill(totp(secret, 1));
  await page.getByRole("button", { name: "Continue" }).click();
  await files(page);

  // Without the key (lost), a recovery code still opens the account, once.
  await devtools.send("WebAuthn.clearCredentials", { authenticatorId });
  await logOut(page);
  await credentials(page, user, password);
  await page.getByRole("button", { name: "Use a security key" }).click();
  await page.getByRole("alert").waitFor();
  await code.fill(codes[0]);
  await page.getByRole("button", { name: "Continue" }).click();
  await files(page);
  await page.getByText("Sign-in security").click();
  await page.getByText("9 recovery codes left").waitFor();
  await page.getByText("(this one)").waitFor();
  await screenshot(page, "mfa-2-sessions");

  // The lost key is removed (the password asked again); the app stays.
  await page.getByLabel("Your password (to change second factors)").fill(password);
  await page.getByRole("listitem").filter({ hasText: "virtual key" }).getByRole("button", { name: "Remove" }).click();
  await page.getByText("Second factor on: authenticator app; 9 recovery codes left").waitFor();

  // The password went nowhere; neither did a code's secret.
  for (const r of requests) {
    assert.ok(!r.body.includes(password), `${r.method} ${r.url} carried the password`);
  }
  await context.close();
});
