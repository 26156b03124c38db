// The page every browser stack runs (copied beside each app's sources by stacks.test.mjs as
// `checkout.js`): buy one order from the reference backend, guard its Pay button, cancel in the
// "wallet". `lib` is the package as that stack imports it. The merchant API is this page's
// origin, or the `?api=` origin (a stack with its own server: Next.js, Vite SSR).

/** How long `launch` keeps the "wallet" open before the buyer cancels. */
const LAUNCH_MS = 1500;

export async function checkout(lib, { serverFingerprint } = {}) {
  const seen = (window.seen = { launches: [], outcomes: [], errors: [] });
  const button = document.querySelector('#pay');
  const status = document.querySelector('#outcome');
  const api = new URLSearchParams(location.search).get('api') ?? '';
  const content = { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] };

  // Made at once, before the wasm is ready: its calls run when it is.
  const guard = new lib.CheckoutGuard({
    namespace: 'stacks',
    scope: 'buyer-1',
    ...(api && {
      endpoints: {
        create: `${api}/api/orders/{orderNo}/payments`,
        status: `${api}/api/orders/{orderNo}/payment`,
        submit: `${api}/api/orders`,
      },
    }),
    // A wallet the buyer leaves without paying.
    launch: async (prepay, context) => {
      seen.launches.push({
        context,
        prepay,
        button: { disabled: button.disabled, state: button.dataset.checkoutState ?? null },
      });
      await new Promise((done) => setTimeout(done, LAUNCH_MS));
      return 'cancelled';
    },
  });
  guard.on('outcome', (event) => {
    seen.outcomes.push(event);
    status.dataset.status = event.status;
    status.textContent = event.status;
  });
  guard.on('error', (error) => seen.errors.push(`${error.code}: ${error.message}`));

  const { orderNo } = await guard.submit(content);
  const order = await (await fetch(`${api}/api/orders/${orderNo}`)).json();
  // `fingerprint` is synchronous: the wasm must be loaded (it is loading since the guard was made).
  await lib.init();
  if (lib.fingerprint(content) !== order.fingerprint) throw new Error('fingerprints differ from the server');
  if (serverFingerprint && (await serverFingerprint(content)) !== order.fingerprint) {
    throw new Error("the app server's fingerprint differs");
  }
  document.querySelector('#order-no').textContent = orderNo;
  guard.attach(button, () => ({ orderNo, content }));
  // Attached buttons hold the guard weakly: keep it reachable.
  window.checkoutGuard = guard;
  status.dataset.status = 'ready';
  status.textContent = 'ready';
}
