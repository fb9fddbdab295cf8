// The "Sign-in security" panel: second factors (an authenticator app, security keys and
// passkeys, recovery codes) and the sessions where the account is signed in.
import { type Session } from "./vault";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  panel: element<HTMLDetailsElement>("security"),
  status: element<HTMLParagraphElement>("factors-status"),
  password: element<HTMLInputElement>("security-password"),
  totpBegin: element<HTMLButtonElement>("totp-begin"),
  totpRemove: element<HTMLButtonElement>("totp-remove"),
  totpSetup: element<HTMLDivElement>("totp-setup"),
  totpSecret: element<HTMLElement>("totp-secret"),
  totpUri: element<HTMLAnchorElement>("totp-uri"),
  totpCode: element<HTMLInputElement>("totp-code"),
  totpConfirm: element<HTMLButtonElement>("totp-confirm"),
  keyName: element<HTMLInputElement>("key-name"),
  keyAdd: element<HTMLButtonElement>("key-add"),
  keys: element<HTMLUListElement>("keys"),
  recovery: element<HTMLDivElement>("recovery"),
  recoveryCodes: element<HTMLUListElement>("recovery-codes"),
  sessions: element<HTMLUListElement>("sessions"),
  endOthers: element<HTMLButtonElement>("end-others"),
};

function item(text: string, action?: { label: string; run: () => void }): HTMLLIElement {
  const li = document.createElement("li");
  li.textContent = text;
  if (action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = action.label;
    b.addEventListener("click", action.run);
    li.append(" ", b);
  }
  return li;
}

function password(): string {
  const value = ui.password.value;
  if (!value) throw new Error("Type your password first: changing second factors needs it again.");
  return value;
}

function showCodes(codes: string[] | null): void {
  if (!codes) return;
  ui.recoveryCodes.replaceChildren(...codes.map((c) => item(c)));
  ui.recovery.hidden = false;
}

/** Wires the panel to `current()`'s session; `guarded` runs an action and shows its error. */
export function wireSecurity(current: () => Session | null, guarded: (action: () => Promise<void>) => Promise<void>): void {
  const run = (action: (session: Session) => Promise<void>) => () =>
    void guarded(async () => {
      const session = current();
      if (session) await action(session);
    });
  const render = async (session: Session) => {
    const [factors, sessions] = await Promise.all([session.factors(), session.sessions()]);
    ui.status.textContent = factors.totp || factors.webauthn.length > 0
      ? `Second factor on: ${[factors.totp ? "authenticator app" : "", factors.webauthn.length ? `${factors.webauthn.length} security key(s)` : ""].filter(Boolean).join(", ")}; ${factors.recovery_codes_left} recovery codes left.`
      : "No second factor: your password alone signs you in.";
    ui.totpBegin.hidden = factors.totp;
    ui.totpRemove.hidden = !factors.totp;
    ui.keys.replaceChildren(
      ...factors.webauthn.map((k) => item(`${k.name || "(unnamed)"}, added ${k.created_at.slice(0, 10)}`, {
        label: "Remove",
        run: run(async (s) => {
          await s.removeKey(password(), k.id);
          await render(s);
        }),
      })),
    );
    ui.sessions.replaceChildren(
      ...sessions.map((s) => item(`${s.device_name || "(unnamed)"} from ${s.address}, since ${s.created_at.slice(0, 16).replace("T", " ")}${s.current ? " (this one)" : ""}`, s.current ? undefined : {
        label: "Sign out",
        run: run(async (mine) => {
          await mine.endSession(s.session_id);
          await render(mine);
        }),
      })),
    );
  };
  ui.panel.addEventListener("toggle", () => {
    if (ui.panel.open) run(render)();
  });
  ui.totpBegin.addEventListener("click", run(async (session) => {
    const enrolment = await session.beginTotp(password());
    ui.totpSecret.textContent = enrolment.secret;
    ui.totpUri.href = enrolment.otpauth_uri;
    ui.totpSetup.hidden = false;
    ui.totpCode.focus();
  }));
  ui.totpConfirm.addEventListener("click", run(async (session) => {
    showCodes(await session.confirmTotp(ui.totpCode.value));
    ui.totpSetup.hidden = true;
    ui.totpCode.value = "";
    await render(session);
  }));
  ui.totpRemove.addEventListener("click", run(async (session) => {
    await session.removeTotp(password());
    await render(session);
  }));
  ui.keyAdd.addEventListener("click", run(async (session) => {
    showCodes(await session.addKey(password(), ui.keyName.value.trim() || "Security key"));
    ui.keyName.value = "";
    await render(session);
  }));
  ui.endOthers.addEventListener("click", run(async (session) => {
    await session.endSession(null);
    await render(session);
  }));
}

/** Forgets what the panel showed (at logout). */
export function resetSecurity(): void {
  ui.panel.open = false;
  ui.password.value = "";
  ui.totpSetup.hidden = true;
  ui.recovery.hidden = true;
  for (const list of [ui.keys, ui.recoveryCodes, ui.sessions]) list.replaceChildren();
}
