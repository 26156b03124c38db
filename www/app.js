// The demo page: one shop order, a Pay button attached to checkout-guard, the buyer's wallet,
// a live timeline of the guard's events, the stored record, fault toggles and the server's
// charge count. No framework; the package is imported the way a shop imports it.

import { CheckoutGuard, fingerprint, init } from '/pkg/index.js';
import { ApiError, admin, orders, providerInfo } from './api.js';
import { createFaults } from './faults.js';
import { createWallet } from './wallet.js';

// The wasm loads on first use; this page uses the package synchronously from the start.
await init();

const $ = (id) => document.getElementById(id);

/** The guard's records and events use this namespace and buyer scope. */
const NAMESPACE = 'demo';
const SCOPE = 'demo-buyer';
/** Where the page remembers its current order across reloads (the guard's own record is separate). */
const CURRENT_ORDER = 'checkout-guard-demo/current-order';
/** The buyer's cart: part of the order content, so one cart is one business order (`submit`). */
const CART = 'checkout-guard-demo/cart';
/** The query parameter of the H5 `redirect_url`: the buyer is back from WeChat Pay's page. */
const H5_RETURN = 'h5-return';
/** This load is the buyer coming back from WeChat Pay's H5 page. */
const H5_RETURNED = new URL(location.href).searchParams.has(H5_RETURN);
const UNIT_PRICE = 1999; // cents

let order = null; // { orderNo, content, fingerprint, amount, paid }
let status = 'loading'; // ready | busy | paid | cancelled | failed | pending | error
let reason = null; // the last outcome's reason: decides the texts and the Pay button's label
/** Back from WeChat Pay's H5 page (`?h5-return=`), until the outcome of that return is shown. */
let h5Back = false;
/** The buyer came back from the H5 page and the server says not paid (the last outcome). */
let h5Unpaid = false;
let runStarted = 0;
let guard = null;
let detach = () => {};
/** WeChat Pay's simulator, when the server runs the `wechatpay` provider (`GET /sim/provider`). */
let wechatpay = null;

// ---------------------------------------------------------------- timeline

const timeline = $('timeline');

/** Adds a line to the timeline: `kind` styles it (guard, wallet, fault, error, page, outcome). */
function note(text, kind = 'page') {
  const now = performance.now();
  const item = document.createElement('li');
  item.className = `entry entry-${kind}`;
  const time = document.createElement('span');
  time.className = 'time';
  const since = runStarted ? now - runStarted : 0;
  time.textContent = runStarted ? `+${(since / 1000).toFixed(2)} s` : clock();
  const what = document.createElement('span');
  what.className = 'what';
  what.textContent = text;
  item.append(time, what);
  timeline.append(item);
  while (timeline.children.length > 200) timeline.firstElementChild.remove();
  // Keep the newest line in view without moving the page or the focus.
  if (timeline.scrollHeight > timeline.clientHeight) timeline.scrollTop = timeline.scrollHeight;
}

function clock() {
  const d = new Date();
  return d.toTimeString().slice(0, 8);
}

const short = (text, n = 10) => (typeof text === 'string' && text.length > n ? `${text.slice(0, n)}…` : text);

const REASONS = {
  network: 'no reply (network or time-out)',
  server_contract: 'a reply the guard does not understand',
  server_busy: 'the server is busy',
  deadline: 'the polling deadline passed',
  other_tab: 'another tab is handling it',
  wallet: 'the wallet',
  attempt_dead: 'the payment attempt is dead',
  not_started: 'no payment was started from this page',
  wallet_no_reply: 'the wallet never answered',
};

/** One guard event as a sentence. */
function describe(event) {
  switch (event.type) {
    case 'locked':
      return 'Pay button locked: further clicks join this payment';
    case 'waitingForOtherTab':
      return 'Another tab is paying this order: waiting for its outcome';
    case 'recordLoaded':
      return event.state ? `Stored record found: state "${event.state}"` : 'No stored record for this order';
    case 'recordRejected':
      return `Stored record unusable (${event.error}): asking the server instead`;
    case 'createSent':
      return event.newKey
        ? `Create sent with a NEW idempotency key ${short(event.key)} (stored before sending)`
        : `Create re-sent with the SAME key ${short(event.key)} (try ${event.tryNo})`;
    case 'prepayReused':
      return `Reusing the stored prepay of ${event.attemptId}: no new payment`;
    case 'launchStarted':
      return `Wallet launched for attempt ${event.attemptId}`;
    case 'statusQuery':
      return event.tryNo === 1 && !event.delayMs
        ? `Status query #${event.tryNo}`
        : `Status query #${event.tryNo} (${(event.delayMs / 1000).toFixed(1)} s after the previous)`;
    case 'statusSeen':
      return `Server says: ${event.status}`;
    case 'retrying':
      return `Retrying in ${(event.afterMs / 1000).toFixed(1)} s: ${REASONS[event.reason] ?? event.reason}`;
    case 'clockJumped':
      return `The clock moved back ${event.backMs} ms: timers kept their remaining time`;
    case 'serverClock':
      return event.jumpMs
        ? `This device's clock moved ${(event.jumpMs / 1000).toFixed(0)} s: timers moved with it`
        : `This device's clock is ${(Math.abs(event.offsetMs) / 1000).toFixed(0)} s `
          + `${event.offsetMs > 0 ? 'behind' : 'ahead of'} the server's: expiries are judged on the server's`;
    case 'recordMismatch':
      return `The stored record names attempt ${event.stored ?? '(none)'}, the server ${event.server}: `
        + 'the stored one is never launched';
    case 'submitSent':
      return event.newKey
        ? `Order submitted with a NEW key ${short(event.key)} (stored before sending)`
        : `Order submission re-sent with the SAME key ${short(event.key)} (try ${event.tryNo})`;
    case 'submitted':
      return `Business order ${event.orderNo}${event.reused ? ' (the same one as before: no second order)' : ' created'}`;
    case 'storage':
      return `Storage: ${event.message}`;
    case 'outcome': {
      const extra = [event.attemptId && `attempt ${event.attemptId}`, event.reused && 'prepay reused',
        event.reason && (REASONS[event.reason] ?? event.reason)].filter(Boolean).join(', ');
      return `Outcome: ${event.status.toUpperCase()}${extra ? ` (${extra})` : ''}`;
    }
    default:
      return `${event.type}${event.message ? `: ${event.message}` : ''}`;
  }
}

// ---------------------------------------------------------------- outcome and button

const MESSAGES = {
  loading: ['Loading the guard…', ''],
  ready: ['Ready to pay', 'Click Pay as often as you like: there will be one payment.'],
  busy: ['Paying…', 'Finish in the wallet on the right (or below on a phone).'],
  paid: ['Paid. Thank you!', 'This order is paid, once. Check the server\'s count: charges 1.'],
  cancelled: ['Payment not finished', 'You left the wallet. Paying again opens the same payment: no second one is created.'],
  failed: ['The payment failed', 'Nothing was charged. You can try again; the failed payment can never be charged.'],
  pending: ['We are still checking', 'We could not confirm the result yet. You will not be charged twice: "Check status" asks again.'],
  error: ['Something went wrong', ''],
};

/** Texts for an outcome whose reason says more than its status. */
const REASON_MESSAGES = {
  'cancelled/not_started': ['Not paid yet', 'No payment was started from this page. Press Pay to continue: it never creates a second payment.'],
  'cancelled/other_tab': ['Not paid yet', 'The payment was left unfinished in another tab. Paying here opens the same payment.'],
  'failed/other_tab': ['The payment failed in another tab', 'Nothing was charged. You can try again here.'],
  'pending/wallet_no_reply': ['The wallet did not answer', 'Your payment is still open and unpaid. "Reopen the payment" opens the same one again (never a second payment); "Check status" asks the server.'],
  'pending/other_tab': ['Being paid in another tab', 'Another tab of this shop is paying this order. Its result will show here.'],
  // Back from WeChat Pay's H5 page, and no payment there: the record still says "launched",
  // so `resume` polled its (shortened) window and could not confirm a payment.
  'pending/h5_unpaid': ['Not paid yet', 'You came back from WeChat Pay without paying, as far as the server knows. "Reopen the payment" opens the same payment (never a second one); "Check status" asks again.'],
};

function payLabel() {
  const amount = order ? yuan(order.amount) : '';
  switch (status) {
    case 'busy': return 'Paying…';
    case 'paid': return 'Paid';
    case 'cancelled': return `Pay ${amount} again`;
    case 'failed': return `Try again: pay ${amount}`;
    case 'pending': return reason === 'wallet_no_reply' || h5Unpaid ? 'Reopen the payment' : 'Check status';
    default: return `Pay ${amount}`;
  }
}

function show(next, detail, why = null) {
  status = next;
  reason = why;
  const box = $('outcome');
  const [title, text] = REASON_MESSAGES[`${next}/${why}`] ?? MESSAGES[next];
  box.dataset.status = next;
  box.querySelector('.outcome-title').textContent = title;
  box.querySelector('.outcome-text').textContent = detail ?? text;
  const pay = $('pay');
  pay.textContent = payLabel();
  const busy = next === 'busy';
  $('new-order').disabled = busy || !order;
  $('qty').disabled = busy || next === 'paid' || !order || order.paid;
  $('scene').disabled = $('qty').disabled;
  // Rule 9: while pending, the buyer can always ask again (it never starts a second payment).
  $('check-status').hidden = next !== 'pending';
  if (next === 'paid') pay.disabled = true;
}

/** A notice the buyer must see (not only the timeline): storage that cannot keep the record. */
function notice(text) {
  const box = $('notice');
  box.textContent = text;
  box.hidden = !text;
}

const yuan = (cents) => `¥${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

// ---------------------------------------------------------------- the order

/** This buyer's cart id, kept across reloads; a new cart only when the buyer starts over. */
function cartId(fresh = false) {
  let id = fresh ? null : localStorage.getItem(CART);
  if (!id) {
    id = `cart-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    localStorage.setItem(CART, id);
  }
  return id;
}

/** The order content; `scene` 'h5' pays in a phone browser (`h5Url`), the default 'native'
 * with a QR code (`codeUrl`). The scene is part of the content: changing it is a change of
 * terms, so the old scene's prepay is closed before a new one is made. */
function content(qty, cart = cartId(), scene = 'native') {
  return {
    cart,
    items: [{ sku: 'oolong-100g', name: 'Oolong tea, 100 g tin', qty, unitPrice: UNIT_PRICE }],
    amount: qty * UNIT_PRICE,
    currency: 'CNY',
    ...(scene === 'native' ? {} : { scene }),
  };
}

/** The scene of the order on show. */
const sceneOf = (shown) => (shown?.content?.scene === 'h5' ? 'h5' : 'native');

function showOrder() {
  $('order-no').textContent = order.orderNo;
  $('amount').textContent = yuan(order.amount);
  const print = fingerprint(order.content);
  $('fingerprint').textContent = print;
  $('fingerprint').title = print;
  $('qty').value = String(order.content?.items?.[0]?.qty ?? 1);
  $('scene').value = sceneOf(order);
  refreshRecord();
}

/** The business order for the cart: `submit` makes one order per submission (a double click,
 * a reload or a second tab get the same one), then the page reads it from the server. */
async function newOrder({ freshCart = false } = {}) {
  const submitted = await guard.submit(content(1, cartId(freshCart)));
  localStorage.setItem(CURRENT_ORDER, submitted.orderNo);
  if (submitted.reused) note(`The cart was submitted before: order ${submitted.orderNo} again, not a second one`, 'page');
  return orders.get(submitted.orderNo);
}

/** The order this page was showing before a reload, if the server still knows it. */
async function previousOrder() {
  const orderNo = localStorage.getItem(CURRENT_ORDER);
  if (!orderNo) return null;
  try {
    return await orders.get(orderNo);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** A fresh Pay button for `order`: the guard tracks buttons per order, so an old order's late
 * outcome can never change the new order's button. */
function attachButton() {
  detach();
  const old = $('pay');
  const button = old.cloneNode(false);
  button.removeAttribute('data-checkout-state');
  button.removeAttribute('aria-busy');
  button.disabled = order.paid;
  old.replaceWith(button);
  detach = guard.attach(button, () => ({ orderNo: order.orderNo, content: order.content }));
}

async function startOrder(next, { resume, h5Return = false }) {
  order = next;
  runStarted = 0;
  showOrder();
  attachButton();
  await faults.apply();
  refreshStats();
  if (h5Return) {
    // Back from WeChat Pay's H5 page (its `redirect_url`): paid or not, only the server knows.
    // `resume` asks it, never launches and never creates: no second payment.
    note(`Back from WeChat Pay's H5 page for ${order.orderNo}: asking the server what became of it`, 'wallet');
    show('busy', 'Back from WeChat Pay: checking the payment…');
    h5Back = true;
    guard.resume(order.orderNo);
  } else if (order.paid) {
    show('paid');
  } else if (resume && storedRecord()) {
    // Reloaded in the middle of a payment: find out what became of it (no new payment).
    show('busy', 'Checking what became of the payment started before the reload…');
    guard.resume(order.orderNo);
  } else {
    show('ready');
  }
}

// ---------------------------------------------------------------- stored record and stats

function storedRecord() {
  if (!order) return null;
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (key?.startsWith('checkout-guard/') && key.endsWith(`/${NAMESPACE}/${SCOPE}/${order.orderNo}`)) {
      return { key, value: localStorage.getItem(key) };
    }
  }
  return null;
}

function refreshRecord() {
  const stored = storedRecord();
  const view = $('record');
  if (!stored) {
    view.textContent = 'nothing stored for this order';
    return;
  }
  let text = stored.value;
  try {
    text = JSON.stringify(JSON.parse(stored.value), null, 2);
  } catch {
    // shown as stored
  }
  view.textContent = `${stored.key}\n${text}`;
}

let statsBusy = false;
async function refreshStats() {
  if (!order || statsBusy) return;
  statsBusy = true;
  try {
    const stats = await admin.stats(order.orderNo);
    let charges = stats.charges;
    if (wechatpay) {
      // WeChat Pay (another process) counts its prepay calls and charges itself; here, the
      // attempts it reported paid to the payment center (its notify or a query).
      const dump = await admin.order(order.orderNo);
      charges = dump.attempts.filter((attempt) => attempt.state === 'paid').length;
      $('stat-prepay').textContent = '—';
      $('stat-refused').textContent = '—';
    } else {
      $('stat-prepay').textContent = String(stats.prepayCalls);
      $('stat-refused').textContent = String(stats.duplicatesRefused + stats.paymentsRefused);
    }
    $('stat-charges').textContent = String(charges);
    $('stat-attempts').textContent = String(stats.attemptsCreated);
    $('stats').dataset.charges = String(charges);
    await faults.sync();
  } catch {
    // the next refresh tries again
  } finally {
    statsBusy = false;
  }
}

// ---------------------------------------------------------------- wiring

const wallet = createWallet({
  idle: $('wallet-idle'),
  idleText: $('wallet-idle-text'),
  pane: $('wallet-open'),
  frame: $('wallet-frame'),
  codeUrl: $('code-url'),
  attempt: $('wallet-attempt'),
  close: $('wallet-close'),
  decline: $('wallet-decline'),
  paid: $('wallet-paid'),
  qr: $('wallet-qr'),
}, note);
const faults = createFaults($('faults'), () => order?.orderNo ?? null, note);

// The in-process simulation (wallet pages here), or WeChat Pay's simulator (real shapes).
providerInfo().then((info) => {
  wallet.setProvider(info);
  faults.setProvider(info);
  if (info?.provider === 'wechatpay') {
    wechatpay = info;
    $('stats-title').textContent = "The payment center's count for this order (charges as WeChat Pay reported them)";
    // WeChat Pay's scenes for a web page: a QR code, or H5 in a phone browser.
    for (const id of ['scene-label', 'scene-choice', 'scene-help']) $(id).hidden = false;
    note(`Provider: WeChat Pay API v3, the simulator at ${info.baseUrl} (charges are counted there: `
      + `${info.baseUrl}/sim/admin/stats/<orderNo>)`, 'wallet');
  }
}, () => {});

function onEvent(event) {
  const mine = !event.orderNo || event.orderNo === order?.orderNo;
  if (event.type === 'locked' && mine) {
    runStarted = performance.now();
    timeline.append(separator(`Payment of ${order.orderNo}, ${yuan(order.amount)}`));
    note(`Fingerprint of the order content: ${short(fingerprint(order.content), 16)} `
      + `(the server's copy: ${fingerprint(order.content) === order.fingerprint ? 'same' : 'DIFFERENT'})`, 'guard');
    show('busy');
  }
  const text = describe(event);
  note(mine ? text : `(order ${event.orderNo}) ${text}`, event.type === 'outcome' ? 'outcome' : 'guard');
  if (event.type === 'waitingForOtherTab' && mine) {
    show('busy', 'This order is being paid in another tab: its outcome will show here.');
  }
  if (event.type === 'storage') {
    notice('This browser cannot keep the payment record (its storage is full or blocked). You are still '
      + 'protected against paying twice: the server knows this order. Keep this tab open until it is paid.');
  }
  if (event.type === 'outcome' && mine) {
    if (event.status === 'paid') order.paid = true;
    h5Unpaid = h5Back && event.status === 'pending' && event.reason === 'deadline';
    h5Back = false;
    show(event.status, undefined, h5Unpaid ? 'h5_unpaid' : event.reason ?? null);
    const button = $('pay');
    if (event.status !== 'paid') button.disabled = false;
    if (document.activeElement === document.body || document.activeElement === $('wallet-frame')) {
      button.focus();
    }
  }
  refreshRecord();
  refreshStats();
}

function separator(text) {
  const item = document.createElement('li');
  item.className = 'separator';
  item.textContent = text;
  return item;
}

function onError(error) {
  note(`Error ${error.code}: ${error.message}`, 'error');
  if (status === 'busy') show('error', `${error.message} (${error.code})`);
}

async function changeScene() {
  const scene = $('scene').value;
  const qty = Number(order.content?.items?.[0]?.qty ?? 1);
  try {
    order = await orders.update(order.orderNo, content(qty, order.content?.cart ?? cartId(), scene));
    showOrder();
    note(`Paying with ${scene === 'h5' ? 'a phone browser (H5)' : 'a QR code (Native)'}: a change of terms, `
      + `new fingerprint ${short(order.fingerprint, 16)}. The server closed the old scene's prepay first.`, 'page');
  } catch (error) {
    note(`Could not change how to pay: ${error.message}`, 'error');
    $('scene').value = sceneOf(order);
  }
}

async function changeQuantity() {
  const qty = Number($('qty').value);
  try {
    const updated = await orders.update(order.orderNo, content(qty, order.content?.cart ?? cartId(), sceneOf(order)));
    order = updated;
    showOrder();
    $('pay').textContent = payLabel();
    note(`Amount changed to ${yuan(order.amount)}: new fingerprint ${short(order.fingerprint, 16)}. `
      + 'The server closed the old prepay at the provider first: it can no longer be paid.', 'page');
  } catch (error) {
    note(error instanceof ApiError && error.code === 'attempt_open'
      ? 'Could not change the amount: the open payment could not be closed yet (provider unreachable). Try again in a moment.'
      : `Could not change the amount: ${error.message}`, 'error');
    $('qty').value = String(order.content?.items?.[0]?.qty ?? 1);
  }
}

async function main() {
  guard = new CheckoutGuard({
    namespace: NAMESPACE,
    scope: SCOPE,
    launch: wallet.launch,
    // The "short prepay expiry" toggle makes 30 s prepays; launch them until 5 s before.
    expiryMarginMs: 5_000,
    // A visitor should see "pending" within half a minute when the server is down; a shop
    // keeps the default (10 minutes) and its buyers rarely wait that long.
    // No long-polling: every status query and its delay shows in the timeline. Back from
    // WeChat Pay's H5 page the buyer is done there: a payment made shows within seconds (the
    // server asks WeChat Pay), so a shorter window before "not paid yet".
    poll: { maxDurationMs: H5_RETURNED ? 10_000 : 30_000, longPollSecs: 0 },
  });
  document.documentElement.dataset.ready = 'true';
  guard.on('state', onEvent);
  guard.on('error', onError);
  $('qty').addEventListener('change', changeQuantity);
  $('scene').addEventListener('change', changeScene);
  $('check-status').addEventListener('click', () => {
    if (!order) return;
    note('Checking the status with the server (no new payment)', 'page');
    guard.resume(order.orderNo);
  });
  $('new-order').addEventListener('click', async () => {
    wallet.reset();
    try {
      await startOrder(await newOrder({ freshCart: true }), { resume: false });
      note(`New order ${order.orderNo}`, 'page');
      $('pay').focus();
    } catch (error) {
      show('error', `Could not create an order: ${error.message}`);
    }
  });
  $('clear-timeline').addEventListener('click', () => {
    timeline.replaceChildren();
  });
  window.addEventListener('storage', refreshRecord);
  setInterval(() => {
    if (document.visibilityState === 'visible') {
      refreshStats();
      refreshRecord();
    }
  }, 1500);

  // Back from an H5 payment (`?h5-return=<orderNo>`, the `redirect_url`): the parameter is
  // dropped from the address bar, so a reload is an ordinary reload.
  const url = new URL(location.href);
  const returned = url.searchParams.get(H5_RETURN);
  if (returned !== null) {
    url.searchParams.delete(H5_RETURN);
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  try {
    await faults.start();
    const previous = await previousOrder();
    const h5Return = Boolean(previous && returned === previous.orderNo);
    await startOrder(previous ?? await newOrder(), { resume: Boolean(previous), h5Return });
    note(previous ? `Back to order ${order.orderNo}` : `New order ${order.orderNo}`, 'page');
  } catch (error) {
    show('error', `The demo server did not answer (${error.message}). Is \`cargo xtask demo\` running?`);
  }
}

main();
