// The web vault page as the tests drive it: by labels and roles, as a person would.
import path from "node:path";

/** Opens the page at `base` in a new page of `context`, recording every request it makes. */
export async function open(context, base) {
  const page = await context.newPage();
  const requests = [];
  page.on("request", (request) => {
    requests.push({ url: request.url(), method: request.method(), body: request.postData() ?? "", headers: request.headers() });
  });
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(`${base}/`);
  return { page, requests };
}

async function submitCredentials(page, button, user, password) {
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: button }).click();
}

/** Creates an account and lands on the file list. */
export async function register(page, user, password) {
  await submitCredentials(page, "Create account", user, password);
  await page.getByRole("heading", { name: "Files" }).waitFor();
}

/** Logs in and lands on the file list. */
export async function login(page, user, password) {
  await submitCredentials(page, "Log in", user, password);
  await page.getByRole("heading", { name: "Files" }).waitFor();
}

/** Tries to log in; resolves to the error the page shows. */
export async function loginRefused(page, user, password) {
  await submitCredentials(page, "Log in", user, password);
  const error = page.getByRole("alert");
  await error.waitFor();
  return error.innerText();
}

/** Chooses `file` in the upload control (what a click and a file dialog do). */
export async function choose(page, file) {
  await page.getByLabel("Choose a file to encrypt and upload").setInputFiles(file);
}

/** Uploads `file` and waits until the page says it is stored. */
export async function upload(page, file, timeout = 600_000) {
  await choose(page, file);
  await stored(page, path.basename(file), timeout);
}

/** Waits until the page reports `name` stored. */
export async function stored(page, name, timeout = 600_000) {
  await page.getByRole("status").filter({ hasText: `Stored ${name}` }).waitFor({ timeout });
}

/** The row of vault `name` in the list. */
export function row(page, name) {
  return page.getByRole("row").filter({ has: page.getByRole("cell", { name, exact: true }) });
}

/** Downloads vault `name` into `dir`; resolves to the saved file's path. */
export async function download(page, name, dir, timeout = 600_000) {
  const [saved] = await Promise.all([
    page.waitForEvent("download", { timeout }),
    row(page, name).getByRole("button", { name: `Download ${name}` }).click(),
  ]);
  const target = path.join(dir, `downloaded-${saved.suggestedFilename()}`);
  await saved.saveAs(target);
  const failure = await saved.failure();
  if (failure) throw new Error(`download of ${name} failed: ${failure}`);
  return target;
}
