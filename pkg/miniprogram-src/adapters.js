'use strict';
// The mini-program's platform adapters over `wx.*`, in the shapes the guard takes: storage
// (`getItem` / `setItem` / `removeItem`), a `request` function, and `launch`. Each is small and
// free of payment logic: what a reply or a wallet result means is the core's business. Each
// takes the API object it calls: `wx`, or uni-app's `uni` / Taro's `Taro`, whose storage,
// request and requestPayment have the same shapes (see framework.js).

/** WeChat's storage limits: 1 MB per key, 10 MB per mini-program (per user). */
const PER_KEY_BYTES = 1024 * 1024;
const TOTAL_BYTES = 10 * 1024 * 1024;

/** UTF-8 length of a string, without allocating. */
function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Records in `wx.*StorageSync`. A write over the 1 MB per-key limit throws here, with the
 * sizes; one over the 10 MB total throws from `wx.setStorageSync` itself. Either way the guard
 * keeps the record in memory and reports a `storage` event once (as in browsers).
 */
function wxStorage(wx) {
  return {
    getItem(key) {
      const value = wx.getStorageSync(key);
      // A missing key reads as '' in WeChat.
      return typeof value === 'string' && value !== '' ? value : null;
    },
    setItem(key, value) {
      const size = utf8Length(key) + utf8Length(value);
      if (size > PER_KEY_BYTES) {
        throw new Error(`wx storage: ${key} would hold ${size} bytes, over the 1 MB per-key limit`);
      }
      wx.setStorageSync(key, value);
    },
    removeItem(key) {
      wx.removeStorageSync(key);
    },
  };
}

/**
 * Taro's `request` and `requestPayment` (and uni-app's when given no callbacks) also return a
 * promise, which rejects when `fail` is called: the callbacks carry the result here, so that
 * rejection is handled, not reported as unhandled on every cancelled wallet.
 */
function settled(returned) {
  if (returned && typeof returned.then === 'function') returned.then(undefined, () => {});
}

/** `wx.request`'s response header object, looked up case-insensitively. */
function headerGetter(header) {
  const lower = {};
  for (const name of Object.keys(header || {})) lower[name.toLowerCase()] = header[name];
  return {
    get(name) {
      const value = lower[String(name).toLowerCase()];
      return value === undefined || value === null ? null : String(value);
    },
  };
}

/**
 * The guard's `request` function over `wx.request`: `(url, { method, headers, body, timeoutMs })`
 * resolves to `{ status, headers: { get }, text() }` for every HTTP reply (any status code) and
 * rejects when there was none (offline, time-out, domain not allowed). The guard sends
 * `Idempotency-Key: "<key>"` (an sf-string) on creates and `Prefer: wait=N` on long polls;
 * `timeoutMs` already includes the long-poll wait.
 */
function wxRequest(wx) {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const options = init || {};
      settled(wx.request({
        url,
        method: options.method || 'GET',
        header: options.headers || {},
        data: options.body,
        timeout: options.timeoutMs,
        // The body as text: the guard parses it itself, exactly (no JSON.parse here).
        dataType: 'text',
        responseType: 'text',
        success(res) {
          const data = res.data;
          const text = typeof data === 'string' ? data : data === undefined || data === null ? '' : JSON.stringify(data);
          resolve({
            status: res.statusCode,
            headers: headerGetter(res.header),
            text: () => Promise.resolve(text),
          });
        },
        fail(err) {
          reject(new Error((err && err.errMsg) || 'request:fail'));
        },
      }));
    });
}

/**
 * The `wx.requestPayment` parameters for a prepay. A real merchant backend returns them signed
 * in `prepay` (`timeStamp`, `nonceStr`, `package`, `signType`, `paySign`: the signature needs the
 * merchant key, which never reaches the client); `package` falls back to `prepay_id=<prepayId>`.
 */
function paymentParams(prepay) {
  const p = prepay || {};
  return {
    timeStamp: p.timeStamp === undefined ? String(Math.floor(Date.now() / 1000)) : String(p.timeStamp),
    nonceStr: p.nonceStr === undefined ? '' : String(p.nonceStr),
    package: p.package === undefined ? `prepay_id=${p.prepayId}` : String(p.package),
    signType: p.signType === undefined ? 'RSA' : String(p.signType),
    paySign: p.paySign === undefined ? '' : String(p.paySign),
  };
}

/**
 * `launch` over `wx.requestPayment`: `'ok'` on success, `'cancelled'` when the buyer closed the
 * wallet (`requestPayment:fail cancel`), `'failed'` for every other failure. A wallet that never
 * calls back leaves the promise pending: the guard polls the server meanwhile, and
 * `wx.onAppShow` makes it ask at once.
 */
function wxRequestPayment(wx, params = paymentParams) {
  return (prepay, context) =>
    new Promise((resolve) => {
      let request;
      try {
        request = params(prepay, context);
      } catch (error) {
        resolve('failed');
        return;
      }
      settled(wx.requestPayment({
        ...request,
        success: () => resolve('ok'),
        fail: (err) => {
          const message = String((err && err.errMsg) || '');
          resolve(message.startsWith('requestPayment:fail cancel') ? 'cancelled' : 'failed');
        },
      }));
    });
}

/**
 * A page's Pay handler: locks at once (a flag in the handler, then `paying: true` through
 * `setData`), ignores taps while locked (WeChat can deliver a second tap before the re-render
 * disables the button), pays `getOrder()` and unlocks with the outcome in
 * `data.checkoutStatus`. Returns the tap handler; it returns the pay promise, or `null` for an
 * ignored tap.
 */
function bindPay(page, { guard, getOrder, flag = 'paying', onOutcome, onError }) {
  let locked = false;
  return function onTap() {
    if (locked || page.data[flag]) return null;
    locked = true;
    page.setData({ [flag]: true });
    const unlock = (data) => {
      locked = false;
      page.setData({ [flag]: false, ...data });
    };
    return Promise.resolve(guard)
      .then((g) => g.pay(getOrder.call(page)))
      .then(
        (outcome) => {
          unlock({ checkoutStatus: outcome.status });
          if (onOutcome) onOutcome.call(page, outcome);
          return outcome;
        },
        (error) => {
          unlock({ checkoutStatus: 'error' });
          if (onError) onError.call(page, error);
          else console.error(error);
          return null;
        },
      );
  };
}

module.exports = {
  PER_KEY_BYTES,
  TOTAL_BYTES,
  utf8Length,
  wxStorage,
  wxRequest,
  wxRequestPayment,
  paymentParams,
  bindPay,
};
