// What the framework stacks (React, Vue) share, copied beside each app's sources by
// stacks.test.mjs as `wallet.js`: the guard's options for the reference backend with a
// "wallet" that confirms the payment after a while (the backend's simulated wallet), the
// order's content, and `window.seen`, which the test reads. The merchant API is the page's
// origin, or the `?api=` origin.
import { CheckoutGuard } from 'checkout-guard';

/** How long the "wallet" stays open before the buyer confirms. */
const LAUNCH_MS = 1500;

export const api = new URLSearchParams(location.search).get('api') ?? '';

export const content = { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] };

/**
 * What the test reads: launches (with the button as it was), outcomes, errors, how often the
 * checkout component mounted (twice in React's StrictMode), the guards made and those freed.
 */
export const seen = (window.seen = { launches: [], outcomes: [], errors: [], mounts: 0, guards: 0, freed: 0 });

// Counts the guards the bindings listen to (each guard they make, at once) and those freed:
// the bindings' guard is the package's root `CheckoutGuard`.
const listened = new WeakSet();
const { on, free } = CheckoutGuard.prototype;
CheckoutGuard.prototype.on = function countedOn(...args) {
  if (!listened.has(this)) {
    listened.add(this);
    seen.guards += 1;
  }
  return on.apply(this, args);
};
CheckoutGuard.prototype.free = function countedFree() {
  seen.freed += 1;
  return free.call(this);
};

export const options = {
  namespace: 'stacks',
  scope: 'buyer-1',
  ...(api && {
    endpoints: {
      create: `${api}/api/orders/{orderNo}/payments`,
      status: `${api}/api/orders/{orderNo}/payment`,
      submit: `${api}/api/orders`,
    },
  }),
  // A wallet in which the buyer pays.
  launch: async (prepay, context) => {
    const button = document.querySelector('#pay');
    seen.launches.push({
      context,
      prepay,
      button: { disabled: button.disabled, state: button.dataset.checkoutState ?? null },
    });
    await new Promise((done) => setTimeout(done, LAUNCH_MS));
    const confirmed = await fetch(`${api}${prepay.walletUrl}/confirm`, {
      method: 'POST',
      headers: { accept: 'application/json' },
    });
    return confirmed.ok ? 'ok' : 'failed';
  },
};
