// The adversarial suite's page: the package imported the way a shop imports it, one order
// (`?order=…`), guard options from `?opts=<JSON>`, and a wallet the test drives: `launch`
// records the prepay (WeChat Pay's shapes: Native `codeUrl`, JSAPI `package`, H5 `h5Url`) and
// the id the simulator's wallet takes for it, and settles when the test calls
// `window.cg.settleLaunch(result)` (or at once with `?launch=ok`). A page opened on an order the guard has a record of (a reload, a
// closed tab opened again), or with `?resume=1`, asks the guard what became of that payment.
// Without `?order` it is the order form: no order, no button, `window.cg.submit(content)`
// submits it through the guard. With `?button=guard` the page never sets the Pay button's
// `disabled` itself: the button shows only what the guard makes of it. `?lazy=1`: the wasm
// is not awaited (the buyer may click before it is ready).
import { CheckoutGuard, init } from '/pkg/index.js';

// The wasm loads on first use; this page uses the package synchronously from the start,
// except with `?lazy=1`: then the guard is made and attached before the wasm is ready.
if (new URLSearchParams(location.search).get('lazy') !== '1') await init();

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const orderNo = params.get('order');
const options = JSON.parse(params.get('opts') ?? '{}');
const launchMode = params.get('launch') ?? 'wait';
/** `?button=guard`: leave the button to the guard (no `disabled` from the page). */
const pageOwnsButton = params.get('button') !== 'guard';

const TITLES = {
  ready: 'Ready to pay',
  busy: 'Paying…',
  paid: 'Paid: this order is paid, once.',
  cancelled: 'Payment not finished: paying again opens the same payment.',
  failed: 'The payment failed: nothing was charged.',
  pending: 'We are still checking: you will not be charged twice.',
  error: 'Something went wrong',
};

const state = {
  order: null,
  events: [],
  launches: [],
  outcomes: [],
  errors: [],
  warnings: [],
  pendingLaunches: [],
  guard: null,
  /** Settles every launch still out with `result` ('ok', 'cancelled' or 'failed'). */
  settleLaunch(result) {
    const waiting = state.pendingLaunches.splice(0);
    for (const settle of waiting) settle(result);
    return waiting.length;
  },
  /** Reads the order again from the server (after the test changed its content). */
  async refresh() {
    state.order = await loadOrder();
    show();
  },
  submissions: [],
  /**
   * The order form's submit: `guard.submit(content)`, resolving `{ ok: Submitted }` or
   * `{ error: "<code>: <message>" }` (recorded in `submissions` too).
   */
  async submit(content) {
    let result;
    try {
      result = { ok: await state.guard.submit(content) };
    } catch (error) {
      result = { error: `${error?.code}: ${error?.message}` };
    }
    state.submissions.push(result);
    return result;
  },
};
window.cg = state;
// Every press the buyer makes, even on the locked (disabled) button: the suite checks that its
// clicks really arrived.
state.presses = [];
window.addEventListener('pointerdown', () => state.presses.push(performance.now()), true);

function show(status, text = '') {
  if (state.order) {
    $('order-no').textContent = state.order.orderNo;
    $('amount').textContent = String(state.order.amount);
  }
  if (!status) return;
  const box = $('outcome');
  box.dataset.status = status;
  box.querySelector('.title').textContent = TITLES[status] ?? status;
  box.querySelector('.text').textContent = text;
}

async function loadOrder() {
  const response = await fetch(`/api/orders/${encodeURIComponent(orderNo)}`);
  if (!response.ok) throw new Error(`GET order: ${response.status}`);
  return response.json();
}

/**
 * The id WeChat Pay's wallet (the simulator's `/sim/wallet/{id}`) takes for `prepay`: the token
 * of a Native `codeUrl` (what the buyer's scan reads), the `prepay_id` of a JSAPI `package` or
 * of an H5 `h5Url`; `null` for anything else.
 */
function walletIdOf(prepay) {
  if (typeof prepay?.codeUrl === 'string') return new URL(prepay.codeUrl).searchParams.get('pr');
  if (typeof prepay?.package === 'string') return prepay.package.replace(/^prepay_id=/, '');
  if (typeof prepay?.h5Url === 'string') return new URL(prepay.h5Url).searchParams.get('prepay_id');
  return null;
}

function launch(prepay, { orderNo: launchedFor, attemptId }) {
  const walletId = walletIdOf(prepay);
  state.launches.push({ walletId, prepay, orderNo: launchedFor, attemptId, at: Date.now() });
  const count = $('launches');
  count.textContent = String(state.launches.length);
  count.dataset.count = String(state.launches.length);
  count.dataset.walletId = walletId ?? '';
  count.dataset.attemptId = attemptId;
  if (launchMode === 'ok') return 'ok';
  return new Promise((settle) => state.pendingLaunches.push(settle));
}

/** A `storage` event (a `'state'` listener gets it too): the records are kept in memory. */
function onStorage(event) {
  state.warnings.push(event.message);
  const warning = $('warning');
  warning.hidden = false;
  warning.textContent = `Storage unavailable, kept in memory: ${event.message}`;
}

function onEvent(event) {
  state.events.push(event);
  if (event.type === 'storage') onStorage(event);
  const item = document.createElement('li');
  item.textContent = JSON.stringify(event);
  $('events').append(item);
  if (event.orderNo && event.orderNo !== orderNo) return;
  if (event.type === 'locked' || event.type === 'waitingForOtherTab') show('busy', event.type);
  if (event.type === 'outcome') {
    state.outcomes.push(event);
    show(event.status, event.reason ?? '');
    if (pageOwnsButton) $('pay').disabled = event.status === 'paid';
  }
}

/** Whether the guard has a record of this order in localStorage (false when it cannot be read). */
function storedRecord() {
  try {
    return localStorage.getItem(`checkout-guard/v1/e2e/buyer-1/${orderNo}`) !== null;
  } catch {
    return false;
  }
}

async function main() {
  if (orderNo) {
    state.order = await loadOrder();
    show();
  }
  const guard = new CheckoutGuard({ namespace: 'e2e', scope: 'buyer-1', launch, ...options });
  state.guard = guard;
  guard.on('state', onEvent);

  guard.on('error', (error) => {
    state.errors.push(`${error.code}: ${error.message}`);
    show('error', `${error.code}: ${error.message}`);
  });
  if (!orderNo) {
    // The order form: nothing to pay yet.
    $('pay').hidden = true;
    show('ready', 'order form');
    document.documentElement.dataset.ready = 'true';
    return;
  }
  guard.attach($('pay'), () => ({ orderNo: state.order.orderNo, content: state.order.content }));
  if (params.get('resume') === '1' || storedRecord()) {
    // Back on a page whose payment started before (a reload, a closed tab): ask the guard
    // what became of it; it never starts a payment on its own.
    show('busy', 'checking the payment started before');
    guard.resume(orderNo);
  } else if (state.order.paid) {
    show('paid');
    if (pageOwnsButton) $('pay').disabled = true;
  } else {
    show('ready');
  }
  document.documentElement.dataset.ready = 'true';
}

main().catch((error) => show('error', String(error?.message ?? error)));
