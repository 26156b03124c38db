// What only browsers (and Node, workers, edge runtimes) give the guard's JS driver: records in
// `localStorage`, the global request function, the cross-tab lock, the broadcast to other
// tabs, "the buyer is back", and the seed from `crypto`. Bound to globals (never `window`), so
// the same code runs in Node. ./guard.js takes them as the browser flavour (`browserPlatform`).
import { platformError } from './errors.js';
import { Store, isStorage } from './platform.js';

const g = globalThis;

/** `localStorage` (`'local'`), memory (`'memory'`) or the page's storage object. */
export function browserStore(choice) {
  if (choice === 'memory') return new Store(undefined);
  if (choice !== 'local') return new Store(choice);
  let local;
  try {
    local = g.localStorage;
  } catch {
    local = undefined;
  }
  return isStorage(local) ? new Store(local) : new Store(undefined, 'localStorage is not available; records are kept in memory');
}

/** The global `fetch`, or a `platform` error that says to pass one. */
export function globalFetch() {
  if (typeof g.fetch !== 'function') throw platformError('there is no global fetch: pass the `fetch` option');
  return g.fetch;
}

/** 32 bytes from `crypto.getRandomValues`. */
export function cryptoSeed() {
  const crypto = g.crypto;
  if (!crypto || typeof crypto.getRandomValues !== 'function') {
    throw platformError('crypto.getRandomValues is not available');
  }
  return crypto.getRandomValues(new Uint8Array(32));
}

// ---------------------------------------------------------------------------------------------
// The cross-tab lock: one tab at a time per order. Web Locks where they exist (the browser
// releases them when the tab dies; asked with `ifAvailable`, never queued behind another tab),
// a lease in storage elsewhere (weaker: two tabs can race between read and write, which the
// read-back narrows; a crashed tab blocks others only until the lease expires).

/** How long a storage lease lasts without renewal (ms); renewed every third of it. */
export const LEASE_MS = 30_000;

function webLocks() {
  try {
    const locks = g.navigator?.locks;
    return locks && typeof locks.request === 'function' ? locks : undefined;
  } catch {
    return undefined;
  }
}

function parseLease(text) {
  const space = typeof text === 'string' ? text.indexOf(' ') : -1;
  if (space < 0) return undefined;
  const expires = Number(text.slice(space + 1));
  return Number.isSafeInteger(expires) ? { owner: text.slice(0, space), expires } : undefined;
}

export class TabLocks {
  #store;
  #owner;
  #leaseMs;
  /** `'webLocks'` or `'lease'`. */
  mechanism;

  /** Locks for the tab `owner`; leases (where Web Locks are missing) in `store`. */
  constructor(store, owner, { leaseMs = LEASE_MS, mechanism = webLocks() ? 'webLocks' : 'lease' } = {}) {
    this.#store = store;
    this.#owner = owner;
    this.#leaseMs = leaseMs;
    this.mechanism = mechanism;
  }

  /**
   * Tries for the lock `name`: resolves with a held lock (`release()`, `renew(now)`) or
   * `null` when another tab holds it; rejects when no lock primitive works.
   */
  async tryAcquire(name, now) {
    if (this.mechanism === 'lease') return this.#lease(name, now);
    const locks = webLocks();
    if (!locks) throw new Error('navigator.locks is missing');
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    let answer;
    const answered = new Promise((resolve) => {
      answer = resolve;
    });
    const requested = locks.request(name, { ifAvailable: true }, (lock) => {
      answer(lock !== null);
      return lock !== null ? held : undefined;
    });
    const got = await Promise.race([answered, requested]);
    return got === true ? { release: () => release(), renew() {} } : null;
  }

  #lease(name, now) {
    const store = this.#store;
    const owner = this.#owner;
    const leaseMs = this.#leaseMs;
    const key = `checkout-guard:lock:${name}`;
    const current = parseLease(store.get(key));
    if (current && current.owner !== owner && current.expires > now) return null;
    store.set(key, `${owner} ${now + leaseMs}`);
    if (parseLease(store.get(key))?.owner !== owner) return null;
    return {
      release() {
        if (parseLease(store.get(key))?.owner === owner) store.remove(key);
      },
      renew(at) {
        store.set(key, `${owner} ${at + leaseMs}`);
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The broadcast to the other tabs of this origin (`BroadcastChannel`): a second tab shows the
// first one's outcome instead of waiting for its own polling. Absent where the API is.

export function openChannel(name, onMessage) {
  if (typeof g.BroadcastChannel !== 'function') return undefined;
  let channel;
  try {
    channel = new g.BroadcastChannel(name);
  } catch {
    return undefined;
  }
  channel.onmessage = (event) => {
    if (typeof event.data === 'string') onMessage(event.data);
  };
  // Node: a channel must not keep the process alive.
  if (typeof channel.unref === 'function') channel.unref();
  return {
    post(text) {
      try {
        channel.postMessage(text);
      } catch {
        // A closed channel: the other tabs learn the outcome from the server, later.
      }
    },
    close() {
      channel.onmessage = null;
      channel.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// "The buyer is back": the page became visible again, or was restored from the back-forward
// cache. A plain first load's `pageshow` is not a return (`persisted` is false).

export function watchVisibility(onShown) {
  const document = g.document;
  if (!document || typeof document.addEventListener !== 'function' || typeof g.addEventListener !== 'function') {
    return undefined;
  }
  const onVisibility = () => {
    if (document.visibilityState === 'visible') onShown();
  };
  const onPageShow = (event) => {
    if (event.persisted === true) onShown();
  };
  document.addEventListener('visibilitychange', onVisibility);
  g.addEventListener('pageshow', onPageShow);
  return () => {
    document.removeEventListener('visibilitychange', onVisibility);
    g.removeEventListener('pageshow', onPageShow);
  };
}

