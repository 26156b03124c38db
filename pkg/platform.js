// The platform pieces the guard's JS driver (./guard.js) performs the core's actions with, one
// per concern, each bound to globals (never `window`), so the same code runs in browsers,
// workers, Node and edge runtimes: storage, transport, the cross-tab lock, the broadcast to
// other tabs, "the buyer is back", and the Pay button. They decide nothing: the core does
// (src/core/step.rs names the actions).
import { describe } from './canonical.js';

const g = globalThis;

// ---------------------------------------------------------------------------------------------
// Storage: records in `localStorage` or the page's own `{ getItem, setItem, removeItem }`; in
// memory when that is missing or throws, reported once as a `storage` warning.

/** Whether `target` has the three storage methods. */
export function isStorage(target) {
  return (
    target !== null &&
    typeof target === 'object' &&
    typeof target.getItem === 'function' &&
    typeof target.setItem === 'function' &&
    typeof target.removeItem === 'function'
  );
}

export class Store {
  #backend;
  #memory = new Map();
  #warned = false;
  #warnings = [];

  /** `'local'`, `'memory'` or a storage object (checked by the options). */
  constructor(choice) {
    if (choice === 'memory') return;
    if (choice === 'local') {
      let local;
      try {
        local = g.localStorage;
      } catch {
        local = undefined;
      }
      if (isStorage(local)) this.#backend = local;
      else this.#warn('localStorage is not available; records are kept in memory');
      return;
    }
    this.#backend = choice;
  }

  get(key) {
    if (this.#memory.has(key)) return this.#memory.get(key);
    if (!this.#backend) return undefined;
    try {
      const value = this.#backend.getItem(key);
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      this.#warn(`getItem threw: ${describe(error)}`);
      return undefined;
    }
  }

  set(key, value) {
    if (this.#backend) {
      try {
        this.#backend.setItem(key, value);
        this.#memory.delete(key);
        return;
      } catch (error) {
        this.#warn(`setItem threw (${describe(error)}); records are kept in memory`);
      }
    }
    this.#memory.set(key, value);
  }

  remove(key) {
    this.#memory.delete(key);
    if (!this.#backend) return;
    try {
      this.#backend.removeItem(key);
    } catch (error) {
      this.#warn(`removeItem threw: ${describe(error)}`);
    }
  }

  /** The warnings not yet reported (each kind of trouble once per guard). */
  takeWarnings() {
    return this.#warnings.splice(0);
  }

  #warn(message) {
    if (this.#warned) return;
    this.#warned = true;
    this.#warnings.push(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Transport: one of the core's requests through a `fetch`-shaped function, with a time-out.

/** The contract's headers (src/core/contract/request.rs `OWN_HEADERS`): not the page's to set. */
const OWN_HEADERS = ['idempotency-key', 'prefer', 'content-type', 'accept'];
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** `{ name: value }` checked as request headers; throws the reason as a string. */
export function headerPairs(object) {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    throw 'must be an object of header names to string values';
  }
  const pairs = [];
  for (const name of Object.keys(object)) {
    const value = object[name];
    if (typeof value !== 'string') throw `the value of ${name} must be a string`;
    if (!TOKEN.test(name)) throw `\`${name}\` is not a header name`;
    if (OWN_HEADERS.includes(name.toLowerCase())) throw `${name} is set by the guard itself`;
    if (/[\r\n\0]/.test(value)) throw `the value of ${name} has a line break`;
    pairs.push([name, value]);
  }
  return pairs;
}

export class Transport {
  #fetch;
  #extra;
  #timeoutMs;

  /** `fetch` as given (or the global one); `extra`: pairs, or a function returning an object. */
  constructor(fetch, extra, timeoutMs) {
    this.#fetch = fetch;
    this.#extra = extra;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Sends `request` (a `send` action); resolves `{ status, retryAfter, body }`, rejects when no
   * reply came within the time-out (the long poll's wait added) or the network failed.
   */
  async send(request) {
    const timeoutMs = this.#timeoutMs + request.waitSecs * 1000;
    const headers = {};
    let extra = this.#extra;
    if (typeof extra === 'function') {
      let value;
      try {
        value = extra();
      } catch (error) {
        throw new Error(`headers() threw: ${describe(error)}`);
      }
      try {
        extra = headerPairs(value);
      } catch (reason) {
        throw new Error(`headers(): ${reason}`);
      }
    }
    for (const [name, value] of extra) headers[name] = value;
    Object.assign(headers, request.headers);
    const controller = typeof g.AbortController === 'function' ? new g.AbortController() : undefined;
    const init = { method: request.method, headers, cache: 'no-store', timeoutMs };
    if (request.body !== null) init.body = request.body;
    if (controller) init.signal = controller.signal;
    let timer;
    const expired = new Promise((_, reject) => {
      timer = g.setTimeout(() => {
        controller?.abort();
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const response = await Promise.race([this.#fetch.call(g, request.url, init), expired]);
      const status = response?.status;
      if (typeof status !== 'number' || !(status >= 0 && status <= 999)) {
        throw new Error('fetch resolved without a status');
      }
      let retryAfter;
      try {
        const value = response.headers.get('Retry-After');
        retryAfter = typeof value === 'string' ? value : undefined;
      } catch {
        retryAfter = undefined;
      }
      if (typeof response.text !== 'function') throw new Error('the response has no text()');
      const body = await Promise.race([response.text(), expired]);
      return { status: Math.trunc(status), retryAfter, body: typeof body === 'string' ? body : '' };
    } finally {
      g.clearTimeout(timer);
    }
  }
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

// ---------------------------------------------------------------------------------------------
// The Pay button: locked the moment a payment starts (disabled, `aria-busy="true"`,
// `data-checkout-state="busy"`), showing the outcome when it ends: `disabled` and `aria-busy`
// back to what they were, `data-checkout-state` naming the outcome. `paid` keeps it disabled.

export const STATE_ATTRIBUTE = 'data-checkout-state';

export class Button {
  #saved;

  constructor(element) {
    this.element = element;
  }

  lock() {
    const element = this.element;
    this.#saved ??= { disabled: element.hasAttribute('disabled'), ariaBusy: element.getAttribute('aria-busy') };
    element.setAttribute('disabled', '');
    element.setAttribute('aria-busy', 'true');
    element.setAttribute(STATE_ATTRIBUTE, 'busy');
  }

  /** `status`: the outcome's, or `null` (a refused call: back to plain "pay"). */
  show(status) {
    const element = this.element;
    const saved = this.#saved ?? { disabled: element.hasAttribute('disabled'), ariaBusy: null };
    this.#saved = undefined;
    if (saved.disabled || status === 'paid') element.setAttribute('disabled', '');
    else element.removeAttribute('disabled');
    if (saved.ariaBusy === null) element.removeAttribute('aria-busy');
    else element.setAttribute('aria-busy', saved.ariaBusy);
    if (status === null || status === undefined) element.removeAttribute(STATE_ATTRIBUTE);
    else element.setAttribute(STATE_ATTRIBUTE, status);
  }
}
