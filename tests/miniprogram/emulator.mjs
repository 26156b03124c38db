// An emulated WeChat mini-program runtime in a Node `vm` context, and the reference backend.
//
// WeChat itself cannot run here, so `wx` is an emulation, kept to what the platform documents:
// the context has the JavaScript built-ins and none of the browser globals (no window,
// document, fetch, localStorage, TextEncoder/TextDecoder, crypto, WebAssembly); `wx` has
// storage with WeChat's limits (1 MB per key, 10 MB in all), `request` doing real HTTP,
// `requestPayment` paying in the backend's wallet, app show/hide events and a callback-only
// `getRandomValues`; `WXWebAssembly.instantiate` accepts only a path inside the code package.
// Files are loaded the way a mini-program loads them: CommonJS modules evaluated in the one
// context, `App()` / `Page()` / `getApp()` as globals. Timers stop while the app is hidden
// (WeChat suspends a backgrounded app) and run again when it is shown.
// `kill()` is the app killed by the system or the buyer: none of its timers or callbacks runs
// again (a request already sent still reaches the server); a relaunch is a new `MiniProgram`
// given the killed one's `storage`. `clockOffsetMs` makes the phone's clock (`Date.now()`,
// `new Date()` in the context) run that far ahead of the real one (the server's).
//
// The backend (`startServer`) is the payment center binary. With `provider: 'wechatpay'` (what
// tests/miniprogram/ uses) it runs `--provider wechatpay` against the WeChat Pay API v3
// simulator binary (`wechatpay-sim`, started here on the throw-away keys of the WeChat Pay test
// vectors), over HTTP: a mini-program order (`content.scene: 'miniprogram'`) gets the JSAPI
// parameter set, which `wx.requestPayment` checks as WeChat does (the paySign, SHA256withRSA
// over `appId\ntimeStamp\nnonceStr\npackage\n`, with the merchant's public key, for the
// mini-program's `appId`) before the buyer pays in the simulator's wallet
// (`/sim/wallet/{prepay_id}/{action}`); the charges are WeChat Pay's own count (the
// simulator's `/sim/admin/stats/{attach}`). Without it (`startServer()`, the packaging test)
// the payment center runs its in-process simulated provider, whose prepay carries no paySign.
//
// `framework: 'uniapp'` adds uni-app's `uni` (a global, as its compiled code reaches it) and
// `framework: 'taro'` Taro's `Taro` (`require('@tarojs/taro')`, as its compiled code does): both
// are wx's storage, request, requestPayment and app-show events underneath, as on mp-weixin, so
// the same limits hold; uni's requestPayment wants `provider: 'wxpay'`, Taro's request and
// requestPayment return a promise as well. Every call through them is counted in `calls`, and
// requests and wallets record the object they came through (`via`).
import vm from 'node:vm';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, startWechatpaySim } from '../e2e/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
/** The example mini-program: its folder is the code package root. */
export const examplePackage = path.join(repo, 'www/miniprogram');
/** The uni-app and Taro examples, as their builds for WeChat run. */
export const uniappPackage = path.join(repo, 'www/miniprogram-uniapp');
export const taroPackage = path.join(repo, 'www/miniprogram-taro');

export const PER_KEY_BYTES = 1024 * 1024;
export const TOTAL_BYTES = 10 * 1024 * 1024;

/** Spawns the payment center binary; resolves `{ url, stop() }` once it printed its address. */
async function spawnServer(args, env = {}) {
  const bin = process.env.CG_SERVER_BIN || defaultServerBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build -p checkout-guard-server\` or set CG_SERVER_BIN`);
  }
  const child = spawn(bin, ['--profile', 'demo', '--db', ':memory:', '--notify-delay-ms', '0', ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 20000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const match = /(http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function getJson(url, what) {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status}`);
  return res.json();
}

/**
 * Starts the built payment center on a free loopback port, with an in-memory database.
 *
 * `provider: 'wechatpay'`: against a WeChat Pay simulator started with it (and stopped by
 * `stop()`); `stats(orderNo)` is then WeChat Pay's count (`charges`, `prepayCalls`,
 * `maxPayableAtOnce`, … of the simulator) with the payment center's `attemptsCreated`, and
 * `wallet(prepayId, action)` acts in the simulator's wallet; `merchantPublicKey` and `appId`
 * are what WeChat checks a paySign with. `provider: 'simulated'` (the default): the payment
 * center's in-process provider, its own stats and wallet.
 */
export async function startServer({ provider = 'simulated' } = {}) {
  if (provider !== 'simulated' && provider !== 'wechatpay') throw new Error(`unknown provider ${provider}`);
  let sim = null;
  let center;
  if (provider === 'wechatpay') {
    sim = await startWechatpaySim();
    try {
      const port = await freePort();
      center = await spawnServer(['--listen', `127.0.0.1:${port}`, '--provider', 'wechatpay'], sim.serverEnv(port));
    } catch (error) {
      await sim.stop();
      throw error;
    }
  } else {
    center = await spawnServer(['--listen', '127.0.0.1:0']);
  }
  const { url } = center;
  const vectors = sim ? JSON.parse(fs.readFileSync(path.join(repo, 'wechatpay/tests/vectors/wechatpay-v3.json'), 'utf8')) : null;
  const walletBase = sim ? sim.url : url;
  return {
    url,
    provider,
    /** The WeChat Pay simulator's base URL (wechatpay only). */
    simUrl: sim ? sim.url : null,
    /** The appid the payment center signs paySigns for (its `CG_WECHATPAY_APPID`). */
    appId: sim ? sim.serverEnv(0).CG_WECHATPAY_APPID : null,
    /** The merchant API public key (PEM) WeChat verifies a paySign with. */
    merchantPublicKey: vectors ? vectors.merchant_public_key_pem : null,
    async stop() {
      await center.stop();
      if (sim) await sim.stop();
    },
    /** One order's counters: `charges`, `attemptsCreated`, `prepayCalls`, … */
    async stats(orderNo) {
      const own = await getJson(`${url}/admin/stats/${encodeURIComponent(orderNo)}`, `stats ${orderNo}`);
      if (!sim) return own;
      // WeChat Pay's own records of the business order (`attach`), and the attempts the payment
      // center minted for it.
      const wechat = await getJson(`${sim.url}/sim/admin/stats/${encodeURIComponent(orderNo)}`, `WeChat Pay stats ${orderNo}`);
      return { ...wechat, orderNo, attemptsCreated: own.attemptsCreated, center: own };
    },
    async addFault(rule) {
      const res = await fetch(`${url}/admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rule),
      });
      if (res.status >= 300) throw new Error(`fault: HTTP ${res.status} ${await res.text()}`);
    },
    async clearFaults() {
      await fetch(`${url}/admin/faults`, { method: 'DELETE' });
    },
    /** A wallet action (`confirm`, `cancel`, `fail`) on the prepay, as the buyer's WeChat Pay
     * does it: at the simulator (wechatpay) or the in-process provider. */
    async wallet(prepayId, action) {
      const res = await fetch(`${walletBase}/sim/wallet/${encodeURIComponent(prepayId)}/${action}`, {
        method: 'POST',
        headers: { accept: 'application/json' },
      });
      return { status: res.status, body: await res.text() };
    },
  };
}

function defaultServerBin() {
  const target = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  return path.join(target, 'debug', 'checkout-guard-server');
}

function utf8Bytes(text) {
  return Buffer.byteLength(String(text), 'utf8');
}

/** One mini-program run: a fresh context, `wx`, and the code package at `root`. */
export class MiniProgram {
  constructor({ root = examplePackage, server, wallet = 'confirm', storage = new Map(), clockOffsetMs = 0, framework = null, appId } = {}) {
    this.root = root;
    /** The mini-program's appid, which WeChat checks a paySign against: by default the one the
     * payment center's merchant account is bound to (`server.appId`). */
    this.appId = appId === undefined ? (server && server.appId) || null : appId;
    /** `uni.request`, `Taro.setStorageSync`, …: each call through a framework's API object. */
    this.calls = [];
    this.server = server;
    /** What the next `wx.requestPayment` does: 'confirm', 'cancel', 'fail' or 'hang'. */
    this.wallet = wallet;
    /** How long the buyer takes in the wallet before confirming or cancelling (ms). */
    this.walletDelayMs = 5;
    this.payments = [];
    this.requests = [];
    this.randomCalls = 0;
    /** wx storage; pass the previous run's to emulate a relaunch on the same phone. */
    this.storage = storage;
    this.hidden = false;
    this.frozen = [];
    /** Set by `kill()`: nothing of this run executes any more. */
    this.killed = false;
    this.timers = new Set();
    /** How far the phone's clock is ahead of the real one (ms; may be changed while running). */
    this.clockOffsetMs = clockOffsetMs;
    this.listeners = { show: new Set(), hide: new Set() };
    this.modules = new Map();
    this.pages = new Map();
    this.errors = [];
    const sandbox = {};
    this.context = vm.createContext(sandbox, { name: 'mini-program' });
    // A mini-program has WXWebAssembly, not WebAssembly.
    vm.runInContext('delete globalThis.WebAssembly;', this.context);
    // The phone's clock: the context's own Date, `clockOffsetMs` ahead of the real clock.
    vm.runInContext(
      `(function (offset) {
        const RealDate = Date;
        const realNow = RealDate.now;
        const now = () => realNow() + offset();
        const PhoneDate = new Proxy(RealDate, {
          construct(target, args, newTarget) {
            return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget);
          },
          apply(target, self, args) {
            return new RealDate(now()).toString();
          },
        });
        RealDate.now = now;
        globalThis.Date = PhoneDate;
      })`,
      this.context,
    )(() => this.clockOffsetMs);
    this.realm = {
      Error: vm.runInContext('Error', this.context),
      Object: vm.runInContext('Object', this.context),
    };
    const wx = this.makeWx();
    if (framework === 'uniapp') sandbox.uni = this.makeFramework('uni', wx);
    else if (framework === 'taro') this.taro = this.makeFramework('Taro', wx);
    else if (framework !== null) throw new Error(`unknown framework ${framework}`);
    Object.assign(sandbox, {
      wx,
      WXWebAssembly: this.makeWXWebAssembly(),
      App: (definition) => {
        this.app = definition;
      },
      Page: (definition) => {
        this.pageDefinition = definition;
      },
      getApp: () => this.app,
      getCurrentPages: () => [...this.pages.values()],
      setTimeout: (fn, ms, ...args) => this.setTimeout(fn, ms, ...args),
      clearTimeout: (handle) => this.clearTimeout(handle),
      console: {
        log: () => {},
        info: () => {},
        warn: (...args) => this.errors.push(['warn', ...args]),
        error: (...args) => this.errors.push(['error', ...args]),
      },
    });
  }

  /** Evaluates `source` in the mini-program's context. */
  evaluate(source) {
    return vm.runInContext(source, this.context);
  }

  // ---- timers: suspended while the app is hidden ------------------------------------------

  setTimeout(fn, ms, ...args) {
    const handle = { fn, args, timer: null, done: false };
    const fire = () => {
      if (handle.done || this.killed) return;
      if (this.hidden) {
        this.frozen.push(fire);
        return;
      }
      handle.done = true;
      this.timers.delete(handle);
      fn(...args);
    };
    if (this.killed) return handle;
    handle.timer = setTimeout(fire, ms);
    this.timers.add(handle);
    return handle;
  }

  clearTimeout(handle) {
    if (handle && handle.timer) {
      handle.done = true;
      clearTimeout(handle.timer);
      this.timers.delete(handle);
    }
  }

  // ---- modules, App, Page ----------------------------------------------------------------

  /** `require` as a mini-program resolves it: relative to the requiring file, in the package;
   * a package name from the nearest `miniprogram_npm/` above it (what DevTools' "build npm" made:
   * `name` is `miniprogram_npm/name/index.js`, `name/sub` is `miniprogram_npm/name/sub.js`). */
  require(from, request) {
    if (request === '@tarojs/taro' && this.taro) return this.taro;
    if (!request.startsWith('.') && !request.startsWith('/')) return this.require(from, this.npmPath(from, request));
    let file = request.startsWith('/') ? path.join(this.root, request) : path.resolve(path.dirname(from), request);
    if (!file.endsWith('.js')) file += '.js';
    if (!file.startsWith(this.root + path.sep)) throw new this.realm.Error(`module ${request} is outside the code package`);
    const cached = this.modules.get(file);
    if (cached) return cached.exports;
    const module = this.evaluate('({ exports: {} })');
    this.modules.set(file, module);
    const source = fs.readFileSync(file, 'utf8');
    const wrapper = vm.runInContext(`(function (module, exports, require) {${source}\n})`, this.context, {
      filename: file,
    });
    wrapper(module, module.exports, (next) => this.require(file, next));
    return module.exports;
  }

  /** The package path of an npm module for `require(request)` from `from`. */
  npmPath(from, request) {
    for (let dir = path.dirname(from); dir.startsWith(this.root); dir = path.dirname(dir)) {
      const base = path.join(dir, 'miniprogram_npm', request);
      for (const file of [`${base}.js`, path.join(base, 'index.js')]) {
        if (fs.existsSync(file)) return `/${path.relative(this.root, file).split(path.sep).join('/')}`;
      }
      if (dir === this.root) break;
    }
    throw new this.realm.Error(`module ${request} is not in any miniprogram_npm/ (run "build npm")`);
  }

  /** Loads app.js and runs `onLaunch` (after `configure(app)`, e.g. to set the backend URL). */
  launch(configure = () => {}) {
    this.require(path.join(this.root, 'app.js'), './app.js');
    if (!this.app) throw new Error('app.js did not call App()');
    configure(this.app);
    if (this.app.onLaunch) this.app.onLaunch.call(this.app, { path: 'pages/checkout/checkout', query: {} });
    if (this.app.onShow) this.app.onShow.call(this.app, {});
    return this.app;
  }

  /** Opens a page: a page instance with `data`, `setData` and a view rendered a frame later. */
  openPage(route, query = {}) {
    this.pageDefinition = null;
    this.require(path.join(this.root, 'app.js'), `./${route}.js`);
    const definition = this.pageDefinition;
    if (!definition) throw new Error(`${route}.js did not call Page()`);
    const page = Object.create(null);
    for (const [key, value] of Object.entries(definition)) {
      page[key] = typeof value === 'function' ? value : value;
    }
    page.route = route;
    page.data = JSON.parse(JSON.stringify(definition.data || {}));
    page.rendered = { ...page.data };
    page.setData = (patch) => {
      Object.assign(page.data, patch);
      // The view layer re-renders asynchronously: a button disabled by this setData still
      // receives taps until then.
      this.setTimeout(() => {
        page.rendered = { ...page.data };
      }, 16);
    };
    this.pages.set(route, page);
    if (page.onLoad) page.onLoad(query);
    if (page.onShow) page.onShow();
    return page;
  }

  /** A tap on the element bound to `handler`: dropped by the view while it renders disabled
   * (`disabled` mirrors the element's `disabled="{{…}}"` expression). */
  tap(page, handler, disabled = (data) => data.paying) {
    if (disabled(page.rendered)) return null;
    return page[handler]({ type: 'tap', timeStamp: Date.now() });
  }

  // ---- app lifecycle ---------------------------------------------------------------------

  hide() {
    this.hidden = true;
    for (const listener of this.listeners.hide) listener({});
  }

  /** The app is killed (swiped away, or reclaimed by the system while in the background): no
   * timer fires and no `wx` callback is delivered in this run any more. Requests already on
   * the wire still reach the server, and their replies are lost. */
  kill() {
    this.killed = true;
    for (const handle of this.timers) {
      handle.done = true;
      clearTimeout(handle.timer);
    }
    this.timers.clear();
    this.frozen = [];
    this.listeners.show.clear();
    this.listeners.hide.clear();
  }

  show() {
    this.hidden = false;
    if (this.app && this.app.onShow) this.app.onShow.call(this.app, { scene: 1001 });
    for (const listener of this.listeners.show) listener({ scene: 1001 });
    const frozen = this.frozen.splice(0);
    for (const fire of frozen) fire();
  }

  // ---- wx ----------------------------------------------------------------------------------

  storageBytes() {
    let total = 0;
    for (const [key, value] of this.storage) total += utf8Bytes(key) + utf8Bytes(value);
    return total;
  }

  /** Fills storage with filler entries until fewer than `leave` bytes are free. */
  fillStorage(leave = 64) {
    let i = 0;
    while (TOTAL_BYTES - this.storageBytes() > leave) {
      const free = TOTAL_BYTES - this.storageBytes();
      const key = `filler-${i++}`;
      const size = Math.min(PER_KEY_BYTES - 64, free - utf8Bytes(key) - leave + 1);
      if (size <= 0) break;
      this.storage.set(key, 'x'.repeat(size));
    }
  }

  makeWx() {
    const mp = this;
    const fail = (message) => new mp.realm.Error(message);
    const later = (fn) => setTimeout(() => mp.killed || fn(), 1);
    return {
      getStorageSync(key) {
        return mp.storage.has(String(key)) ? JSON.parse(mp.storage.get(String(key))) : '';
      },
      setStorageSync(key, data) {
        const text = JSON.stringify(data);
        const size = utf8Bytes(key) + utf8Bytes(text);
        if (size > PER_KEY_BYTES) throw fail('setStorageSync:fail entry size limit reached (1MB per key)');
        const previous = mp.storage.has(String(key)) ? utf8Bytes(key) + utf8Bytes(mp.storage.get(String(key))) : 0;
        if (mp.storageBytes() - previous + size > TOTAL_BYTES) throw fail('setStorageSync:fail exceed storage max size 10MB');
        mp.storage.set(String(key), text);
      },
      removeStorageSync(key) {
        mp.storage.delete(String(key));
      },
      getStorageInfoSync() {
        return { keys: [...mp.storage.keys()], currentSize: Math.ceil(mp.storageBytes() / 1024), limitSize: TOTAL_BYTES / 1024 };
      },
      request(options) {
        return mp.request(options);
      },
      requestPayment(options) {
        mp.requestPayment(options);
      },
      onAppShow(listener) {
        mp.listeners.show.add(listener);
      },
      offAppShow(listener) {
        mp.listeners.show.delete(listener);
      },
      onAppHide(listener) {
        mp.listeners.hide.add(listener);
      },
      offAppHide(listener) {
        mp.listeners.hide.delete(listener);
      },
      getRandomValues({ length, success, fail: failed, complete } = {}) {
        mp.randomCalls += 1;
        later(() => {
          if (!Number.isInteger(length) || length <= 0 || length > 1048576) {
            const err = { errMsg: 'getRandomValues:fail invalid length' };
            if (failed) failed(err);
            if (complete) complete(err);
            return;
          }
          const res = { randomValues: new Uint8Array(crypto.randomBytes(length)).buffer, errMsg: 'getRandomValues:ok' };
          if (success) success(res);
          if (complete) complete(res);
        });
      },
    };
  }

  /**
   * uni-app's `uni` or Taro's `Taro` over `wx`: the calls the guard's adapters make, counted.
   * uni's `requestPayment` fails without `provider: 'wxpay'` (uni-app's own check); Taro's
   * `request` and `requestPayment` also return a promise that rejects on `fail`.
   */
  makeFramework(name, wx) {
    const mp = this;
    const counted = (method, fn) => (...args) => {
      mp.calls.push(`${name}.${method}`);
      return fn(...args);
    };
    const promised = (fn) => (options = {}) =>
      new Promise((resolve, reject) =>
        fn({
          ...options,
          success: (res) => {
            if (options.success) options.success(res);
            resolve(res);
          },
          fail: (err) => {
            if (options.fail) options.fail(err);
            reject(err);
          },
        }),
      );
    const request = (options) => mp.request(options, name);
    let requestPayment = (options) => mp.requestPayment(options, name);
    if (name === 'uni') {
      requestPayment = ({ provider, ...options }) => {
        if (provider !== 'wxpay') {
          setTimeout(() => options.fail && options.fail({ errMsg: `requestPayment:fail provider ${provider} is not wxpay` }), 1);
          return;
        }
        mp.requestPayment(options, name);
      };
    }
    const api = {};
    for (const method of ['getStorageSync', 'setStorageSync', 'removeStorageSync', 'onAppShow', 'offAppShow', 'onAppHide', 'offAppHide']) {
      api[method] = counted(method, wx[method]);
    }
    api.request = counted('request', name === 'Taro' ? promised(request) : request);
    api.requestPayment = counted('requestPayment', name === 'Taro' ? promised(requestPayment) : requestPayment);
    return api;
  }

  /** `wx.request`: real HTTP; `success` for any HTTP reply, `fail` for none or a time-out. */
  request({ url, method = 'GET', header = {}, data, timeout = 60000, dataType = 'json', success, fail, complete }, via = 'wx') {
    const record = { url, method, header: { ...header }, via };
    this.requests.push(record);
    const done = (callback, value) => {
      if (record.done) return;
      record.done = true;
      if (this.killed) return; // the app is gone: nobody hears the reply
      if (callback) callback(value);
      if (complete) complete(value);
    };
    let body;
    if (data !== undefined && data !== null) body = typeof data === 'string' ? data : JSON.stringify(data);
    record.body = body;
    const target = new URL(url);
    if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
      setTimeout(() => done(fail, { errMsg: 'request:fail url not in domain list' }), 1);
      return { abort() {} };
    }
    const req = http.request(target, { method, headers: { ...header, ...(body ? { 'Content-Length': Buffer.byteLength(body) } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        if (dataType === 'json') {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
        }
        record.status = res.statusCode;
        record.reply = text;
        done(success, { statusCode: res.statusCode, header: { ...res.headers }, data: parsed, errMsg: 'request:ok' });
      });
      res.on('error', (error) => done(fail, { errMsg: `request:fail ${error.message}` }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done(fail, { errMsg: 'request:fail timeout' });
    }, timeout);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (error) => {
      record.error = error.message;
      done(fail, { errMsg: `request:fail ${error.message}` });
    });
    if (body) req.write(body);
    req.end();
    return {
      abort() {
        req.destroy();
        done(fail, { errMsg: 'request:fail abort' });
      },
    };
  }

  /**
   * Why WeChat would refuse to open the wallet for these `wx.requestPayment` parameters, or
   * null. With the merchant's public key known (`server.merchantPublicKey`), the JSAPI set must
   * be complete and `paySign` must verify (SHA256withRSA, base64) over
   * `appId\ntimeStamp\nnonceStr\npackage\n` for this mini-program's appid. The in-process
   * provider's prepay has no paySign (nothing to check there).
   */
  paySignRefusal(options) {
    const key = this.server && this.server.merchantPublicKey;
    if (!key) return null;
    for (const name of ['timeStamp', 'nonceStr', 'package', 'signType', 'paySign']) {
      if (typeof options[name] !== 'string' || options[name] === '') return `调用支付JSAPI缺少参数：${name}`;
    }
    if (options.signType !== 'RSA') return `signType ${options.signType} is not RSA`;
    const message = `${this.appId}\n${options.timeStamp}\n${options.nonceStr}\n${options.package}\n`;
    let valid = false;
    try {
      valid = crypto.verify('sha256', Buffer.from(message, 'utf8'), key, Buffer.from(options.paySign, 'base64'));
    } catch {
      valid = false;
    }
    return valid ? null : '支付验证签名失败';
  }

  /** `wx.requestPayment`: WeChat checks the parameters (`paySignRefusal`), then the buyer
   * confirms, cancels or fails in the wallet, or the wallet never calls back ('hang'). */
  requestPayment(options, via = 'wx') {
    const match = /^prepay_id=(.+)$/.exec(String(options.package || ''));
    const prepayId = match ? match[1] : null;
    const action = this.wallet;
    const entry = { prepayId, action, params: { ...options }, via };
    this.payments.push(entry);
    const settle = (callback, value) => {
      entry.result = value.errMsg;
      if (this.killed) return;
      if (callback) callback(value);
      if (options.complete) options.complete(value);
    };
    if (!prepayId) {
      setTimeout(() => settle(options.fail, { errMsg: 'requestPayment:fail invalid package' }), 1);
      return;
    }
    const refusal = this.paySignRefusal(options);
    if (refusal) {
      // WeChat refuses before any wallet opens: the buyer cannot pay.
      entry.refused = refusal;
      setTimeout(() => settle(options.fail, { errMsg: `requestPayment:fail ${refusal}` }), 1);
      return;
    }
    if (action === 'hang') return;
    setTimeout(async () => {
      const wallet = await this.server.wallet(prepayId, action === 'fail' ? 'fail' : action);
      entry.walletStatus = wallet.status;
      if (action === 'confirm' && wallet.status < 300) settle(options.success, { errMsg: 'requestPayment:ok' });
      else if (action === 'cancel') settle(options.fail, { errMsg: 'requestPayment:fail cancel' });
      else settle(options.fail, { errMsg: `requestPayment:fail ${wallet.body}` });
    }, this.walletDelayMs);
  }

  makeWXWebAssembly() {
    const mp = this;
    return {
      instantiate(packagePath, imports) {
        if (typeof packagePath !== 'string') {
          return Promise.reject(new mp.realm.Error('WXWebAssembly.instantiate: the first argument must be a path in the code package'));
        }
        if (/^[a-z][a-z0-9+.-]*:/i.test(packagePath)) {
          return Promise.reject(new mp.realm.Error(`WXWebAssembly.instantiate: ${packagePath} is not a code package path`));
        }
        if (!/\.wasm(\.br)?$/.test(packagePath)) {
          return Promise.reject(new mp.realm.Error(`WXWebAssembly.instantiate: ${packagePath} is not a .wasm or .wasm.br file`));
        }
        const file = path.resolve(mp.root, `.${path.posix.normalize(`/${packagePath}`)}`);
        if (!file.startsWith(mp.root + path.sep) || !fs.existsSync(file)) {
          return Promise.reject(new mp.realm.Error(`WXWebAssembly.instantiate: no file ${packagePath} in the code package`));
        }
        let bytes = fs.readFileSync(file);
        if (file.endsWith('.br')) bytes = zlib.brotliDecompressSync(bytes);
        mp.instantiated = packagePath;
        return WebAssembly.instantiate(bytes, imports);
      },
    };
  }
}

/** Resolves once `predicate()` is truthy, polling every 10 ms, or rejects after `ms`. */
export async function until(predicate, ms = 15000, what = 'condition') {
  const start = Date.now();
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
