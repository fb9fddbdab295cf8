// Stores a file as a vault and reads it back, with Node.js 20:
//   npm run build && node --experimental-strip-types examples/store-and-read.ts http://127.0.0.1:8080 alice ./notes.txt
// (or compile it with tsc). The password comes from BLINDVAULT_PASSWORD.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

import { Client, ConflictError } from "../src/index.js";

const [server = "http://127.0.0.1:8080", username = "alice", path = "./notes.txt"] = process.argv.slice(2);
const password = process.env["BLINDVAULT_PASSWORD"] ?? "";
const client = new Client(server);
const { keys } = await client.login(username, password);
const vaultId = basename(path);
const existing = (await client.list()).find((v) => v.vault_id === vaultId);
try {
  const written = await client.put(keys, vaultId, await readFile(path), existing ? { etag: existing.etag } : { absent: true });
  console.log(`stored ${vaultId} at revision ${written.revision}`);
} catch (error) {
  if (error instanceof ConflictError) console.error(`another device wrote ${vaultId} first (now ${error.currentEtag})`);
  throw error;
}
const { plaintext } = await client.get(keys, vaultId);
console.log(`read back ${plaintext.length} bytes`);
await client.logout();
