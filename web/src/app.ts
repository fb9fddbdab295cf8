// The web vault page: log in, list, upload (resumable above a size), download, replace,
// delete, change the password. Everything is encrypted and decrypted here; the server sees
// the auth hash and ciphertext only. The session lives in this page's memory: a reload asks
// for the password again, and no key is ever written anywhere.
import { save } from "./download";
import * as format from "./format";
import { resetSecurity, wireSecurity } from "./security";
import { type Item, type PendingLogin, Session, describe, isConflict, vaultIdFor } from "./vault";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  who: element<HTMLParagraphElement>("who"),
  logout: element<HTMLButtonElement>("logout"),
  main: element<HTMLElement>("main"),
  status: element<HTMLParagraphElement>("status"),
  error: element<HTMLParagraphElement>("error"),
  auth: element<HTMLElement>("auth"),
  authForm: element<HTMLFormElement>("auth-form"),
  username: element<HTMLInputElement>("username"),
  password: element<HTMLInputElement>("password"),
  factorForm: element<HTMLFormElement>("factor-form"),
  factorCode: element<HTMLInputElement>("factor-code"),
  factorKey: element<HTMLButtonElement>("factor-key"),
  vaults: element<HTMLElement>("vaults"),
  drop: element<HTMLDivElement>("drop"),
  file: element<HTMLInputElement>("file"),
  progressRow: element<HTMLDivElement>("progress-row"),
  progressLabel: element<HTMLLabelElement>("progress-label"),
  progress: element<HTMLProgressElement>("progress"),
  cancel: element<HTMLButtonElement>("cancel"),
  rows: element<HTMLTableSectionElement>("rows"),
  empty: element<HTMLParagraphElement>("empty"),
  passwdForm: element<HTMLFormElement>("passwd-form"),
  currentPassword: element<HTMLInputElement>("current-password"),
  newPassword: element<HTMLInputElement>("new-password"),
  newPasswordAgain: element<HTMLInputElement>("new-password-again"),
  passwordChange: element<HTMLDetailsElement>("password-change"),
};

let session: Session | null = null;
let pending: PendingLogin | null = null;
let listed = new Map<string, Item>();
let busy: AbortController | null = null;

function say(text: string): void {
  ui.status.textContent = text;
}

function fail(text: string): void {
  ui.error.textContent = text;
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

async function guarded(action: () => Promise<void>): Promise<void> {
  clearError();
  try {
    await action();
  } catch (error) {
    fail(describe(error));
  }
}

function showSignedIn(signedIn: boolean): void {
  ui.auth.hidden = signedIn;
  ui.vaults.hidden = !signedIn;
  ui.logout.hidden = !signedIn;
  ui.who.hidden = !signedIn;
  ui.who.textContent = session ? `Signed in as ${session.username}` : "";
}

ui.authForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const registering = (event.submitter as HTMLButtonElement | null)?.value === "register";
  const buttons = ui.authForm.querySelectorAll("button");
  void guarded(async () => {
    buttons.forEach((b) => (b.disabled = true));
    say(registering ? "Creating your account…" : "Deriving your keys…");
    try {
      const user = ui.username.value.trim();
      const password = ui.password.value;
      const outcome = registering
        ? await Session.register(location.origin, user, password)
        : await Session.login(location.origin, user, password);
      if (!(outcome instanceof Session)) {
        askSecondFactor(outcome);
        return;
      }
      session = outcome;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      ui.password.value = "";
    }
    await signedIn();
  });
});

function askSecondFactor(waiting: PendingLogin): void {
  pending = waiting;
  ui.authForm.hidden = true;
  ui.factorForm.hidden = false;
  ui.factorKey.hidden = !waiting.factors.includes("webauthn");
  say("");
  ui.factorCode.focus();
}

async function signedIn(): Promise<void> {
  pending = null;
  ui.factorForm.hidden = true;
  ui.authForm.hidden = false;
  showSignedIn(true);
  say("");
  await refresh();
  await remindInterrupted();
  ui.main.focus();
}

function secondStep(code: string | null): void {
  void guarded(async () => {
    if (!pending) return;
    say(code === null ? "Waiting for your security key…" : "Checking the code…");
    try {
      session = await Session.finish(pending, code);
    } catch (error) {
      say("");
      throw error;
    } finally {
      ui.factorCode.value = "";
    }
    await signedIn();
  });
}

ui.factorForm.addEventListener("submit", (event) => {
  event.preventDefault();
  secondStep(ui.factorCode.value);
});
ui.factorKey.addEventListener("click", () => secondStep(null));
wireSecurity(() => session, guarded);

ui.logout.addEventListener("click", () => {
  void guarded(async () => {
    busy?.abort();
    const ending = session;
    session = null;
    listed = new Map();
    ui.rows.replaceChildren();
    resetSecurity();
    showSignedIn(false);
    say("Logged out");
    await ending?.logout();
  });
});

async function refresh(): Promise<void> {
  if (!session) return;
  const items = await session.list();
  listed = new Map(items.map((item) => [item.id, item]));
  ui.rows.replaceChildren(...items.map(renderRow));
  ui.empty.hidden = items.length > 0;
}

function button(text: string, label: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function renderRow(item: Item): HTMLTableRowElement {
  const row = document.createElement("tr");
  row.dataset["vault"] = item.id;
  const cell = (text: string, className = "") => {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  };
  const actions = document.createElement("td");
  actions.className = "actions";
  const picker = document.createElement("input");
  picker.type = "file";
  picker.hidden = true;
  picker.setAttribute("aria-label", `Replacement for ${item.id}`);
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    if (file) void store(file, item.id);
    picker.value = "";
  });
  const remove = button("Delete", `Delete ${item.id}`, "danger", () => {
    if (remove.dataset["armed"] !== "yes") {
      remove.dataset["armed"] = "yes";
      remove.textContent = "Confirm delete";
      return;
    }
    void guarded(async () => {
      await session?.remove(item.id, item.etag);
      say(`Deleted ${item.id}`);
      await refresh();
    });
  });
  actions.append(
    button("Download", `Download ${item.id}`, "", () => void fetchFile(item)),
    button("Replace", `Replace ${item.id}`, "secondary", () => picker.click()),
    remove,
    picker,
  );
  row.append(cell(item.id, "name"), cell(format.size(item.size)), cell(format.time(item.updated)), actions);
  return row;
}

function progress(label: string, fraction: number): void {
  ui.progressRow.hidden = false;
  ui.progressLabel.textContent = label;
  ui.progress.value = Math.min(1, Math.max(0, fraction));
}

async function store(file: File, id = vaultIdFor(file.name)): Promise<void> {
  if (!session || busy) return;
  const current = listed.get(id);
  busy = new AbortController();
  await guarded(async () => {
    try {
      progress(`Encrypting and uploading ${id}`, 0);
      await session!.upload(id, file, current?.etag ?? null, (done) => progress(`Uploading ${id}`, done), busy!.signal);
      say(`Stored ${id}`);
    } catch (error) {
      if (isConflict(error)) {
        await refresh();
        throw new Error(
          `${id} was changed on another device since this list was loaded; the list now shows that version. Upload again to replace it.`,
        );
      }
      throw error;
    } finally {
      busy = null;
      ui.progressRow.hidden = true;
    }
    await refresh();
  });
}

async function fetchFile(item: Item): Promise<void> {
  await guarded(async () => {
    if (!session) return;
    say(`Downloading ${item.id}…`);
    const { stream, size } = await session.download(item.id);
    await save(stream, item.id, size);
    say(`Downloaded ${item.id}`);
  });
}

async function remindInterrupted(): Promise<void> {
  const pending = (await session?.interrupted()) ?? [];
  if (pending.length > 0) {
    fail(
      pending
        .map((p) => `The upload of ${p.name} (${format.size(p.size)}) stopped at ${Math.floor(p.fraction * 100)}%. Choose the same file to continue.`)
        .join(" "),
    );
  }
}

ui.file.addEventListener("change", () => {
  const file = ui.file.files?.[0];
  if (file) void store(file);
  ui.file.value = "";
});

ui.cancel.addEventListener("click", () => busy?.abort());

for (const name of ["dragenter", "dragover"] as const) {
  ui.drop.addEventListener(name, (event) => {
    event.preventDefault();
    ui.drop.classList.add("over");
  });
}
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.drop.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file) void store(file);
});

ui.passwdForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void guarded(async () => {
    if (!session) return;
    if (ui.newPassword.value !== ui.newPasswordAgain.value) throw new Error("The two new passwords differ.");
    if (ui.newPassword.value.length < 8) throw new Error("Choose a new password of at least 8 characters.");
    progress("Re-encrypting your files", 0);
    try {
      await session.changePassword(ui.currentPassword.value, ui.newPassword.value, (done) =>
        progress("Re-encrypting your files", done),
      );
    } finally {
      ui.progressRow.hidden = true;
      for (const input of [ui.currentPassword, ui.newPassword, ui.newPasswordAgain]) input.value = "";
    }
    ui.passwordChange.open = false;
    say("Password changed: every file is now encrypted under the new one.");
    await refresh();
  });
});

showSignedIn(false);
