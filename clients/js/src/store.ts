// Where a resumable upload keeps what it needs to continue after a reload or a crash: the
// upload's URL, its salt and IV, and its sent log. Nothing secret: the server has all of it.

/** What a client keeps to continue one upload. */
export interface PendingUpload {
  /** `owner|vault|name|size|lastModified`: the same file for the same vault and user. */
  key: string;
  /** The account (username) it belongs to. */
  owner: string;
  /** The vault it commits to. */
  vaultId: string;
  /** The file's name, size (plaintext bytes) and modification time, as the browser gave them. */
  name: string;
  size: number;
  lastModified: number;
  /** The tus upload's URL once created. */
  uploadUrl: string | null;
  /** The revision's salt and IV (base64). */
  salt: string;
  iv: string;
  /** The sent log: tags of the chunks produced, and the highest acknowledged offset. */
  tags: Uint8Array;
  acknowledged: number;
}

/** A store of pending uploads. */
export interface UploadStore {
  get(key: string): Promise<PendingUpload | undefined>;
  put(upload: PendingUpload): Promise<void>;
  delete(key: string): Promise<void>;
  /** The pending uploads of `owner`. */
  list(owner: string): Promise<PendingUpload[]>;
}

/** Pending uploads in this process's memory (Node, tests). */
export class MemoryUploadStore implements UploadStore {
  private readonly uploads = new Map<string, PendingUpload>();
  async get(key: string): Promise<PendingUpload | undefined> {
    const found = this.uploads.get(key);
    return found && { ...found, tags: found.tags.slice() };
  }
  async put(upload: PendingUpload): Promise<void> {
    this.uploads.set(upload.key, { ...upload, tags: upload.tags.slice() });
  }
  async delete(key: string): Promise<void> {
    this.uploads.delete(key);
  }
  async list(owner: string): Promise<PendingUpload[]> {
    return [...this.uploads.values()].filter((u) => u.owner === owner);
  }
}

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

/** Pending uploads in the browser's IndexedDB, surviving reloads (database `blindvault`). */
export class IndexedDbUploadStore implements UploadStore {
  private db: Promise<IDBDatabase> | null = null;

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const request = indexedDB.open("blindvault", 1);
      request.onupgradeneeded = () => request.result.createObjectStore("uploads", { keyPath: "key" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error("IndexedDB is unavailable"));
    });
    return this.db;
  }

  private async store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    return (await this.open()).transaction("uploads", mode).objectStore("uploads");
  }

  async get(key: string): Promise<PendingUpload | undefined> {
    return done((await this.store("readonly")).get(key)) as Promise<PendingUpload | undefined>;
  }
  /** Resolves once the record is committed (durably where the browser supports it). */
  async put(upload: PendingUpload): Promise<void> {
    const tx = (await this.open()).transaction("uploads", "readwrite", { durability: "strict" });
    tx.objectStore("uploads").put(upload);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error("IndexedDB write failed"));
    });
  }
  async delete(key: string): Promise<void> {
    await done((await this.store("readwrite")).delete(key));
  }
  async list(owner: string): Promise<PendingUpload[]> {
    const all = (await done((await this.store("readonly")).getAll())) as PendingUpload[];
    return all.filter((u) => u.owner === owner);
  }
}
