// The page's side of the download worker (sw.ts): hands a stream of plaintext to the worker
// and lets the browser save it as a file, piece by piece, never holding the whole file.

let registration: Promise<ServiceWorkerRegistration> | null = null;

/** Registers the download worker once; resolves when it controls the page. */
export function ready(): Promise<ServiceWorkerRegistration> {
  registration ??= (async () => {
    const reg = await navigator.serviceWorker.register("sw.js", { scope: "./" });
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise<void>((resolve) => {
        navigator.serviceWorker.addEventListener("controllerchange", () => resolve(), { once: true });
      });
    }
    return reg;
  })();
  return registration;
}

/**
 * Saves `stream` as a file called `name` (of `size` bytes when known). Resolves when the last
 * byte has been handed to the browser; rejects if the stream fails (the browser then reports
 * the download as failed rather than saving a truncated file).
 */
export async function save(stream: ReadableStream<Uint8Array>, name: string, size: number | null): Promise<void> {
  await ready();
  const worker = navigator.serviceWorker.controller;
  if (!worker) throw new Error("the download worker is not running; reload the page");
  const id = crypto.randomUUID();
  const channel = new MessageChannel();
  const reader = stream.getReader();
  const done = new Promise<void>((resolve, reject) => {
    channel.port1.onmessage = async (event: MessageEvent) => {
      const message = event.data as { type: string };
      if (message.type === "registered") {
        // A navigation, not <a download>: Chromium does not route a[download] through the
        // worker. The answer is an attachment, so the page stays where it is.
        location.assign(`download/${encodeURIComponent(id)}`);
      } else if (message.type === "pull") {
        try {
          const next = await reader.read();
          if (next.done) {
            channel.port1.postMessage({ type: "end" });
            channel.port1.close();
            resolve();
          } else {
            channel.port1.postMessage({ type: "chunk", chunk: next.value }, [next.value.buffer]);
          }
        } catch (error) {
          channel.port1.postMessage({ type: "error", error: String(error) });
          channel.port1.close();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      } else if (message.type === "cancel") {
        await reader.cancel();
        channel.port1.close();
        reject(new Error("the download was cancelled"));
      }
    };
  });
  worker.postMessage({ type: "download", id, name, size }, [channel.port2]);
  await done;
}
