// The download service worker: turns a decrypted stream that the page produces into a file
// download, with constant memory, whatever the file's size. The page registers a download
// (an id, a name, a size and a MessagePort), then opens `/download/<id>`; this worker answers
// that request with a stream it fills from the port, asking the page for each next piece only
// when the browser has taken the previous one (back-pressure). Nothing is cached or stored.

const sw = self as unknown as ServiceWorkerGlobalScope;

interface Pending {
  name: string;
  size: number | null;
  port: MessagePort;
}

const pending = new Map<string, Pending>();

sw.addEventListener("install", () => {
  void sw.skipWaiting();
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(sw.clients.claim());
});

sw.addEventListener("message", (event) => {
  const data = event.data as { type?: string; id?: string; name?: string; size?: number | null };
  const port = event.ports[0];
  if (data.type !== "download" || typeof data.id !== "string" || !port) return;
  pending.set(data.id, { name: data.name ?? "download", size: data.size ?? null, port });
  port.postMessage({ type: "registered" });
});

/** `filename*` of RFC 6266, so that any name survives, with an ASCII fallback. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function streamFrom(port: MessagePort): ReadableStream<Uint8Array> {
  let waiting: ((message: { type: string; chunk?: Uint8Array; error?: string }) => void) | null = null;
  port.onmessage = (event: MessageEvent) => {
    const resolve = waiting;
    waiting = null;
    resolve?.(event.data as { type: string; chunk?: Uint8Array; error?: string });
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = new Promise<{ type: string; chunk?: Uint8Array; error?: string }>((resolve) => {
          waiting = resolve;
        });
        port.postMessage({ type: "pull" });
        const message = await next;
        if (message.type === "chunk" && message.chunk) {
          controller.enqueue(message.chunk);
        } else if (message.type === "end") {
          controller.close();
          port.close();
        } else {
          controller.error(new Error(message.error ?? "the download failed"));
          port.close();
        }
      },
      cancel() {
        port.postMessage({ type: "cancel" });
        port.close();
      },
    },
    { highWaterMark: 1 },
  );
}

sw.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== sw.location.origin || !url.pathname.startsWith("/download/")) return;
  const id = decodeURIComponent(url.pathname.slice("/download/".length));
  const download = pending.get(id);
  if (!download) return;
  pending.delete(id);
  const headers = new Headers({
    "Content-Type": "application/octet-stream",
    "Content-Disposition": disposition(download.name),
    "X-Content-Type-Options": "nosniff",
  });
  if (download.size !== null) headers.set("Content-Length", String(download.size));
  event.respondWith(new Response(streamFrom(download.port), { headers }));
});
