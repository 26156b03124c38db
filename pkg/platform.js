// The platform pieces every flavour of the guard's JS driver (./guard.js) performs the core's
// actions with: storage with its memory fallback, the transport with its time-out (the Pay
// button in a page is ./button.js, which the mini-program does not need). They decide nothing: the core does (src/core/step.rs names the actions). What only
// browsers have (`localStorage`, the global request function, Web Locks, `BroadcastChannel`,
// the page's visibility, `crypto`) is ./browser.js; the mini-program's pieces are its loader's
// (pkg/miniprogram-src/). Nothing here names a browser global: the mini-program bundle
// includes this file.
import { describe } from './canonical.js';

const g = globalThis;

// ---------------------------------------------------------------------------------------------
// Storage: records in the platform's storage or the page's own `{ getItem, setItem, removeItem }`;
// in memory when that is missing or throws, reported once as a `storage` warning.

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

  /**
   * Over `backend`, a storage object (checked by the options), or in memory alone when it is
   * `undefined`; `missing`: the warning to report when the platform's storage is unavailable.
   */
  constructor(backend, missing) {
    this.#backend = backend;
    if (missing) this.#warn(missing);
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
// Transport: one of the core's requests through a function shaped like the web's request
// function (`(url, init) => Promise<{ status, headers: { get }, text() }>`), with a time-out.

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
  #send;
  #extra;
  #timeoutMs;

  /** `send` the request function; `extra`: pairs, or a function returning an object. */
  constructor(send, extra, timeoutMs) {
    this.#send = send;
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
      const response = await Promise.race([this.#send.call(g, request.url, init), expired]);
      const status = response?.status;
      if (typeof status !== 'number' || !(status >= 0 && status <= 999)) {
        throw new Error('the request resolved without a status');
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
