// Two Pay buttons for two orders, paid by WeChat Pay H5 (a mobile browser outside WeChat: the
// merchant opens the prepay's `h5Url`, WeChat Pay's page, in a window): one guard opens the
// wallet window in `prepare` (inside the click's user activation) and navigates it to `h5Url`
// in `launch`; the other opens it in `launch` itself, after the server's replies, which a
// browser with popup blocking refuses. The test reads `window.results` and confirms the payment
// in the WeChat Pay simulator's wallet (`walletId`: the `prepay_id` of the `h5Url`).
import { CheckoutGuard, init } from '/pkg/index.js';

// The wasm loads on first use; this page uses the package synchronously from the start.
await init();

const results = { opened: [], blocked: [], outcomes: [], dismissed: 0 };
window.results = results;
/** Resolves a launch once the test confirmed its payment: `window.done[orderNo]()`. */
window.done = {};

async function order(content) {
  const reply = await fetch('/api/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content }),
  });
  return reply.json();
}

/** The `prepay_id` an H5 prepay's `h5Url` carries: the id WeChat Pay's wallet pays. */
function walletIdOf(prepay) {
  return new URL(prepay.h5Url).searchParams.get('prepay_id');
}

function wait(orderNo) {
  return new Promise((resolve) => { window.done[orderNo] = () => resolve('ok'); });
}

const common = {
  storage: 'memory',
  poll: { fastMs: [0, 250, 500], baseMs: 300, capMs: 600, floorMs: 200, longPollSecs: 0 },
};

const prepared = new CheckoutGuard({
  ...common,
  namespace: 'gesture-prepared',
  prepare: () => window.open('about:blank', 'wallet-prepared'),
  dismiss: (w) => { results.dismissed += 1; w?.close(); },
  launch: (prepay, context) => {
    const w = context.prepared;
    if (!w) {
      results.blocked.push(context.orderNo);
      return 'failed';
    }
    w.location.href = prepay.h5Url;
    results.opened.push({ orderNo: context.orderNo, attemptId: context.attemptId, walletId: walletIdOf(prepay) });
    return wait(context.orderNo);
  },
});

const late = new CheckoutGuard({
  ...common,
  namespace: 'gesture-late',
  launch: (prepay, context) => {
    const w = window.open(prepay.h5Url, 'wallet-late');
    if (!w) {
      results.blocked.push(context.orderNo);
      return 'cancelled';
    }
    results.opened.push({ orderNo: context.orderNo, attemptId: context.attemptId, walletId: walletIdOf(prepay) });
    return wait(context.orderNo);
  },
});

for (const guard of [prepared, late]) guard.on('outcome', (e) => results.outcomes.push(e));

const [a, b] = await Promise.all([order({ amount: 100, cart: 'prepared', scene: 'h5' }), order({ amount: 100, cart: 'late', scene: 'h5' })]);
window.orders = { prepared: a.orderNo, late: b.orderNo };
prepared.attach(document.getElementById('prepared'), () => ({ orderNo: a.orderNo, content: a.content }));
late.attach(document.getElementById('late'), () => ({ orderNo: b.orderNo, content: b.content }));
document.documentElement.dataset.ready = 'true';
