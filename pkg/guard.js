// The guard's JS driver: `CheckoutGuard` over the core's second shape (`Core`, src/wasm/step.rs).
//
// The core decides everything (src/core/step.rs): each call into it (a click, a reply, a timer)
// answers with one batch, the actions to perform in order, the next deadline, whether it is
// idle. This module performs them with the platform pieces of ./platform.js and calls back
// with what came of those that wait (a reply, a stored record, a lock, the wallet). It follows
// the core's calling contract: the actions of a batch are performed in order, and an input
// that arrives while a batch is being performed (a listener that pays from inside an event)
// is handed to the core at once but its batch is performed after the current one; a stored
// record is answered after the batch that asked for it, never from inside it. One platform
// timer, re-armed to the latest deadline. Nothing here decides whether a payment may start.
//
// Two fast paths, each exact: `pay()` with the very order object in flight (a double click)
// returns the promise in flight without crossing into wasm; the canonical text is built by the
// JS engine (./canonical.js), and only hashed in wasm.
import { canonicalize, describe } from './canonical.js';
import { guardError, platformError } from './errors.js';
import { Transport, headerPairs, isStorage } from './platform.js';

const g = globalThis;
/** How long one request may take, long-poll wait excluded, when not given (ms). */
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/** The longest delay `setTimeout` takes. */
const MAX_DELAY_MS = 0x7fffffff;
/** A lease's renewal period where a platform's locks are leases (ms). */
const RENEW_MS = 10_000;
/** Guards with a call running: kept alive until idle (a page may drop its last reference mid-payment). */
const BUSY = new Set();

function invalidOption(option, reason) {
  return guardError('invalid_options', `invalid option \`${option}\`: ${reason}`);
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The constructor's options for `platform`, checked (errors name the option). The platform
 * names its request-function option (`transport`) and what `storage` may be: the browser's
 * `'local'` (its default) or a required choice in a mini-program.
 */
function readOptions(options, platform) {
  if (!isPlainObject(options)) throw invalidOption('options', 'must be an object');
  // What `storage` may be on this platform, for the errors: `'local', 'memory'` in browsers.
  const storages = [...platform.storageNames, 'memory'].map((n) => `'${n}'`).join(', ');
  const read = {
    launch: undefined,
    transport: undefined,
    storage: platform.defaultStorage,
    timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    headers: [],
    prepare: undefined,
    dismiss: undefined,
  };
  const core = [];
  const fn = (name, value) => {
    if (typeof value !== 'function') throw invalidOption(name, 'must be a function');
    return value;
  };
  for (const name of Object.keys(options)) {
    const value = options[name];
    switch (name) {
      case 'launch':
      case 'prepare':
      case 'dismiss':
        read[name] = fn(name, value);
        break;
      case platform.transport:
        read.transport = fn(name, value);
        break;
      case 'storage':
        if (value === 'memory' || platform.storageNames.includes(value)) read.storage = value;
        else if (isPlainObject(value) && isStorage(value)) read.storage = value;
        else if (isPlainObject(value)) {
          throw invalidOption('storage', `${storages} or an object with getItem, setItem and removeItem`);
        } else throw invalidOption('storage', `${storages} or { getItem, setItem, removeItem }`);
        break;
      case 'requestTimeoutMs':
        if (!(Number.isInteger(value) && value >= 1000 && value <= 120_000)) {
          throw invalidOption('requestTimeoutMs', 'an integer between 1000 and 120000');
        }
        read.timeoutMs = value;
        break;
      case 'headers':
        if (typeof value === 'function') read.headers = value;
        else {
          try {
            read.headers = headerPairs(value);
          } catch (reason) {
            throw invalidOption('headers', reason);
          }
        }
        break;
      default: {
        // The core's: as canonical JSON, numbers as JavaScript prints them (2000, a double, as
        // `2000`, which the core's integer options accept).
        let json;
        try {
          json = canonicalize(value);
        } catch (error) {
          throw invalidOption(name, error.message);
        }
        core.push(`${JSON.stringify(name)}:${json}`);
      }
    }
  }
  if (!read.launch) {
    throw invalidOption('launch', "required: async (prepay, { orderNo, attemptId }) => 'ok' | 'cancelled' | 'failed'");
  }
  if (read.storage === undefined) throw invalidOption('storage', "required: 'memory' or { getItem, setItem, removeItem }");
  read.coreJson = `{${core.join(',')}}`;
  return read;
}

function hex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** `{ orderNo, content }` → the order number, the content and its canonical text. */
function readOrder(order) {
  if (order === null || typeof order !== 'object') {
    throw guardError('invalid_order', 'the order must be { orderNo, content }');
  }
  const orderNo = typeof order.orderNo === 'string' ? order.orderNo : '';
  const content = order.content;
  if (content === null || typeof content !== 'object') {
    throw guardError('invalid_order', "order.content must be the order's content (an object or array)");
  }
  return [orderNo, content, canonicalize(content)];
}

/** The refusal a core call answered with (`{"error":{code,message}}`), or `undefined`. */
function refusal(text) {
  if (!text.startsWith('{"error"')) return undefined;
  const { error } = JSON.parse(text);
  return guardError(error.code, error.message);
}

/** `text`, the core's batch, unless it is a refusal, which is thrown. */
function accepted(text) {
  const error = refusal(text);
  if (error) throw error;
  return text;
}

/**
 * The guard class over the core's binding (`Core`, `sha256Hex`: ./core.js) and one platform: `CheckoutGuard`
 * for browsers, bundlers and Node (./browser.js, `browserPlatform` in ./shell.js), the
 * mini-program's guard (its loader's). A platform gives:
 * - `transport`: the name of the request-function option (`'fetch'`, `'request'`) and
 *   `defaultTransport()`: the function when the option is not given (it throws when there is
 *   none);
 * - `defaultStorage` and `storageNames` (the named storages besides `'memory'`) and
 *   `store(choice)`: a ./platform.js `Store` for the checked choice;
 * - `seed()`: 32 random bytes;
 * - `locks(store, owner)`: `{ mechanism, tryAcquire(name, now) }` (./browser.js `TabLocks`);
 * - `channel(name, onMessage)` and `watch(onShown)`: the broadcast to other tabs and "the
 *   buyer is back", each `undefined` where the platform has none;
 * - `attach(engine, element, getOrder)` and `adopt(engine, orderNo)`: the Pay button in a page
 *   (./button.js), `undefined` where the platform has none (a mini-program binds its button
 *   with `bindPay`).
 */
export function guardClass(binding, platform) {
  // A guard dropped by the page while idle closes its channel and visibility watcher.
  const closers = typeof g.FinalizationRegistry === 'function' ? new g.FinalizationRegistry((close) => close()) : undefined;

  /** One guard's driver: the core, the platform pieces and the callers waiting on it. */
  class Engine {
    core;
    options;
    store;
    transport;
    locks;
    lockPrefix;
    channel;
    unwatch;
    calls = new Map();
    nextCaller = 0;
    /** orderNo → [order, content, promise, caller]: a double click answered without the core. */
    flights = new Map();
    listeners = [];
    nextListener = 0;
    queue = [];
    driving = false;
    timer = undefined;
    renewal = undefined;
    held = new Map();
    buttons = new Map();
    attached = [];
    nextAttach = 0;
    prepared = new Map();
    freed = false;
    idle = true;

    constructor(options) {
      const read = readOptions(options, platform);
      const send = read.transport ?? platform.defaultTransport();
      const bytes = platform.seed();
      let core;
      try {
        core = new binding.Core(read.coreJson, bytes);
      } catch (text) {
        throw refusal(String(text)) ?? text;
      }
      this.core = core;
      this.options = read;
      this.store = platform.store(read.storage);
      this.transport = new Transport(send, read.headers, read.timeoutMs);
      this.locks = platform.locks(this.store, hex(bytes.subarray(0, 8)));
      this.lockPrefix = `checkout-guard:${core.namespace()}:${core.scope()}`;
      // Through a weak reference: the channel and the watcher must not keep an idle guard alive.
      const weak = typeof g.WeakRef === 'function' ? new g.WeakRef(this) : { deref: () => this };
      this.channel = platform.channel(this.lockPrefix, (text) => weak.deref()?.feed((now) => weak.deref()?.core.heard(text, now)));
      this.unwatch = platform.watch(() => weak.deref()?.feed((now) => weak.deref()?.core.shown(now)));
      const { channel, unwatch } = this;
      closers?.register(this, () => {
        channel?.close();
        unwatch?.();
      });
    }

    /** Calls the core with the time now and performs its batch. */
    feed(call) {
      if (this.freed && this.idle) return;
      this.run(call(Date.now()));
    }

    /** Queues a batch and, unless one is being performed, performs every queued batch. */
    run(text) {
      this.queue.push(text);
      if (this.driving) return;
      this.driving = true;
      let last;
      try {
        while (this.queue.length > 0) {
          const batch = JSON.parse(this.queue.shift());
          if (batch.error) continue;
          const reads = [];
          for (const action of batch.do) this.perform(action, reads);
          // Answered after the batch, never from inside it (the core's contract).
          for (const [id, stored] of reads) this.queue.push(this.core.stored(id, stored, Date.now()));
          last = batch;
        }
      } finally {
        this.driving = false;
      }
      if (last) this.driven(last);
    }

    /** After a drive: the timer, the lease renewals, the keep-alive, the storage warnings. */
    driven(batch) {
      const now = Date.now();
      g.clearTimeout(this.timer);
      this.timer = undefined;
      if (batch.timeout !== null) {
        const delay = Math.min(Math.max(batch.timeout - now, 0), MAX_DELAY_MS);
        this.timer = g.setTimeout(() => this.feed((at) => this.core.timer(at)), delay);
      }
      this.renewLeases(now);
      this.idle = batch.idle && this.calls.size === 0;
      if (this.idle) BUSY.delete(this);
      else BUSY.add(this);
      this.reportStorageWarnings();
      if (this.freed && this.idle) this.close();
    }

    perform(action, reads) {
      switch (action.op) {
        case 'send':
          this.transport.send(action).then(
            (reply) => this.feed((now) => this.core.replied(action.id, reply.status, reply.retryAfter, reply.body, now)),
            () => this.feed((now) => this.core.lost(action.id, now)),
          );
          break;
        case 'get':
          reads.push([action.id, this.store.get(action.key)]);
          break;
        case 'set':
          this.store.set(action.key, action.value);
          break;
        case 'remove':
          this.store.remove(action.key);
          break;
        case 'lock':
          this.lock(action);
          break;
        case 'unlock':
          this.held.get(action.orderNo)?.release();
          this.held.delete(action.orderNo);
          break;
        case 'lockUi':
          this.buttons.get(action.orderNo)?.lock();
          break;
        case 'unlockUi':
          this.unlockUi(action.orderNo, action.status);
          break;
        case 'launch':
          this.launch(action);
          break;
        case 'emit':
          // Before the listeners: one that pays again from inside the outcome event reaches
          // the core, not the call that just ended.
          if (action.event.type === 'outcome') this.flights.delete(action.event.orderNo);
          this.emit(action.event.type, action.event);
          break;
        case 'resolve':
        case 'resolveSubmit':
          for (const [orderNo, flight] of this.flights) {
            if (action.callers.includes(flight[3])) this.flights.delete(orderNo);
          }
          for (const caller of action.callers) {
            const call = this.calls.get(caller);
            if (!call) continue;
            this.calls.delete(caller);
            if (action.error) call[1](guardError(action.error.code, action.error.message));
            else call[0](action.value);
          }
          break;
        case 'broadcast':
          this.channel?.post(action.message);
          break;
        default:
          break;
      }
    }

    lock(action) {
      const { id, orderNo } = action;
      this.locks.tryAcquire(`${this.lockPrefix}:${orderNo}`, Date.now()).then(
        (lock) => {
          if (lock) {
            this.held.get(orderNo)?.release();
            this.held.set(orderNo, lock);
          }
          this.feed((now) => this.core.locked(id, lock !== null, now));
        },
        // No working lock primitive: go on alone; the server's one-live-attempt rule still
        // protects the buyer.
        () => this.feed((now) => this.core.locked(id, true, now)),
      );
    }

    unlockUi(orderNo, status) {
      // The call ended: a window prepared for it and never launched goes.
      if (this.prepared.has(orderNo)) {
        const unused = this.prepared.get(orderNo);
        this.prepared.delete(orderNo);
        this.dismiss(unused);
      }
      // Never clicked in this tab (another tab's outcome): the platform's attached element
      // for this order, if any (./button.js).
      if (!this.buttons.has(orderNo)) platform.adopt?.(this, orderNo);
      this.buttons.get(orderNo)?.show(status);
    }

    /** Calls the page's `launch(prepay, { orderNo, attemptId, prepared? })`. */
    launch(action) {
      const context = { orderNo: action.orderNo, attemptId: action.attemptId };
      if (this.prepared.has(action.orderNo)) {
        context.prepared = this.prepared.get(action.orderNo);
        this.prepared.delete(action.orderNo);
      }
      let returned;
      try {
        returned = Promise.resolve(this.options.launch(action.prepay, context));
      } catch (error) {
        returned = Promise.reject(error);
      }
      returned
        .then(
          (value) => (value === 'ok' || value === 'cancelled' ? value : 'failed'),
          () => 'failed',
        )
        .then((result) => this.feed((now) => this.core.launched(action.id, result, now)));
    }

    /** Calls `prepare(order)` now, inside the click's user activation, for a payment that starts. */
    prepare(orderNo, order) {
      const prepare = this.options.prepare;
      if (!prepare || !this.core.wouldStart(orderNo)) return;
      try {
        const value = prepare(order);
        if (this.prepared.has(orderNo)) this.dismiss(this.prepared.get(orderNo));
        this.prepared.set(orderNo, value);
      } catch (error) {
        this.emit('error', guardError('platform', `prepare() threw: ${describe(error)}`));
      }
    }

    dismiss(prepared) {
      try {
        this.options.dismiss?.(prepared);
      } catch {
        // The page's own clean-up failing changes nothing for the payment.
      }
    }

    emit(kind, value) {
      const targets = this.listeners.filter((l) => l.kind === kind || (l.kind === 'state' && kind !== 'error'));
      for (const { listener } of targets) {
        try {
          listener(value);
        } catch {
          // A listener that throws does not stop the others or the guard.
        }
      }
    }

    /** Storage warnings, once someone listens for them (`'storage'` or `'state'`). */
    reportStorageWarnings() {
      if (!this.listeners.some((l) => l.kind === 'storage' || l.kind === 'state')) return;
      for (const message of this.store.takeWarnings()) this.emit('storage', { type: 'storage', message });
    }

    /** Extends every held lease and, while one is held, re-arms the renewal. */
    renewLeases(now) {
      for (const lock of this.held.values()) lock.renew(now);
      g.clearTimeout(this.renewal);
      this.renewal = undefined;
      if (this.locks.mechanism === 'lease' && this.held.size > 0) {
        this.renewal = g.setTimeout(() => this.renewLeases(Date.now()), RENEW_MS);
      }
    }

    newCall() {
      const caller = this.nextCaller++;
      let parts;
      const promise = new Promise((resolve, reject) => {
        parts = [resolve, reject];
      });
      this.calls.set(caller, parts);
      return [caller, promise];
    }

    /** `pay(order)`: the promise of the outcome, and the refusal when one is known at once. */
    pay(order) {
      if (this.freed) return { promise: Promise.reject(platformError('the guard was freed')) };
      let orderNo;
      let content;
      let canonical;
      try {
        [orderNo, content, canonical] = readOrder(order);
      } catch (error) {
        return { promise: Promise.reject(error), error };
      }
      this.prepare(orderNo, order);
      const [caller, promise] = this.newCall();
      // Before the input: the core may settle the call within this feed (a paid order).
      const started = !this.flights.has(orderNo);
      if (started) this.flights.set(orderNo, [order, content, promise, caller]);
      const text = this.core.pay(orderNo, canonical, caller, Date.now());
      const error = refusal(text);
      if (error) {
        if (started && this.flights.get(orderNo)?.[3] === caller) this.flights.delete(orderNo);
        this.calls.delete(caller);
        return { promise: Promise.reject(error), error };
      }
      this.run(text);
      return { promise };
    }

    close() {
      g.clearTimeout(this.timer);
      g.clearTimeout(this.renewal);
      this.channel?.close();
      this.channel = undefined;
      this.unwatch?.();
      this.unwatch = undefined;
      BUSY.delete(this);
      closers?.unregister?.(this);
      this.core.free();
    }
  }

  /** Guards every order of one page: `pay`, `submit`, `attach`, `resume`, `forget`, `on`. */
  return class CheckoutGuard {
    #engine;

    /** Checks `options` (errors name the option) and opens storage, lock and channel. */
    constructor(options) {
      this.#engine = new Engine(options);
    }

    /** Pays `order` (`{ orderNo, content }`) at most once; resolves with the outcome. */
    pay(order) {
      const engine = this.#engine;
      const flight = typeof order === 'object' && order !== null ? engine.flights.get(order.orderNo) : undefined;
      if (flight !== undefined && flight[0] === order && flight[1] === order.content) return flight[2];
      return engine.pay(order).promise;
    }

    /** Submits the order form's `content` at most once: resolves with the business order. */
    submit(content) {
      const engine = this.#engine;
      if (engine.freed) return Promise.reject(platformError('the guard was freed'));
      if (content === null || typeof content !== 'object') {
        return Promise.reject(guardError('invalid_order', 'the submitted content must be an object or array'));
      }
      let canonical;
      try {
        canonical = canonicalize(content);
      } catch (error) {
        return Promise.reject(error);
      }
      const [caller, promise] = engine.newCall();
      engine.run(engine.core.submit(canonical, caller, Date.now()));
      return promise;
    }

    /** Finds out what became of `orderNo`, paid from an earlier page (never launches). */
    resume(orderNo) {
      const engine = this.#engine;
      if (engine.freed) throw platformError('the guard was freed');
      engine.run(accepted(engine.core.resume(typeof orderNo === 'string' ? orderNo : '', Date.now())));
    }

    /** Forgets an order and its record, so it may be paid again; throws `busy` while it runs. */
    forget(orderNo) {
      const engine = this.#engine;
      if (engine.freed) throw platformError('the guard was freed');
      const number = typeof orderNo === 'string' ? orderNo : '';
      const text = accepted(engine.core.forget(number, Date.now()));
      engine.flights.delete(number);
      engine.run(text);
    }

    /**
     * The buyer is back (a mini-program's `wx.onAppShow`; browsers see it on their own): ask the
     * server now about payments in flight.
     */
    pageShown() {
      const engine = this.#engine;
      if (!engine.freed) engine.feed((now) => engine.core.shown(now));
    }

    /** Calls `listener(event)` for events of `type` (`'state'`: every event but errors). */
    on(type, listener) {
      const engine = this.#engine;
      const id = engine.nextListener++;
      engine.listeners.push({ id, kind: String(type), listener });
      // Warnings from opening the storage wait for the first listener.
      engine.reportStorageWarnings();
      return () => {
        engine.listeners = engine.listeners.filter((l) => l.id !== id);
      };
    }

    /**
     * Locks `element` synchronously on click (and Enter / Space on non-buttons) and pays
     * `getOrder()`. Returns a function that detaches the handlers. An attached element keeps
     * its guard alive until it is detached. Where the platform has no such element (a
     * mini-program: `bindPay`), a `platform` error.
     */
    attach(element, getOrder) {
      if (!platform.attach) throw platformError('attach() needs a DOM element; in a mini-program, bindPay(page) binds the Pay button');
      return platform.attach(this.#engine, element, getOrder);
    }

    /**
     * Nothing may join this guard's calls any more; a call in flight still ends, then its
     * storage, lock, channel and timers are let go.
     */
    free() {
      const engine = this.#engine;
      if (engine.freed) return;
      engine.freed = true;
      engine.flights.clear();
      if (engine.idle) engine.close();
    }
  };
}
