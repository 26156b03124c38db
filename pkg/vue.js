// checkout-guard for Vue (>= 3): `useCheckoutGuard` owns a guard for the component's life and
// turns its events into refs; the `vCheckoutPay` directive (`v-checkout-pay`) pays on click
// and keeps its element's `disabled`, `aria-busy` and `data-checkout-state` in step with
// those refs, the way Vue lets a directive own its element's attributes (do not also bind
// `:disabled` on it). The label is the template's: `{{ paid ? 'Paid' : 'Pay' }}`.
//
// In a component the guard is made when it mounts (never during a server render) and freed
// when it unmounts; outside one (an effect scope, a store) it is made at once and freed when
// the scope is disposed. A guard is freed only once no `pay` of the composable is in flight.
import { computed, getCurrentInstance, getCurrentScope, onMounted, onScopeDispose, ref, shallowRef, watchEffect } from 'vue';
import { CheckoutGuard } from './index.js';
import { platformError } from './errors.js';

/**
 * The guard of this component, made with `options` on mount, freed on unmount. Returns refs
 * (read-only): `guard` (`null` until mounted), `error` (the last error of a `pay` or an
 * `'error'` event), and `orderNo`, `busy`, `paid`, `outcome` of the order last paid or heard
 * of; `pay(order)`; `of(orderNo)`, the state of any order (reactive).
 */
export function useCheckoutGuard(options) {
  const guard = shallowRef(null);
  const error = shallowRef(null);
  const orderNo = ref(null);
  /** orderNo → `{ pending, locked, paid, outcome }`, reactive. */
  const orders = ref({});
  let inFlight = 0;
  let freed = false;
  let offs = [];

  const stateOf = (no) => {
    orders.value[no] ??= { pending: 0, locked: false, paid: false, outcome: null };
    return orders.value[no];
  };

  function create() {
    if (guard.value || freed) return;
    const made = new CheckoutGuard(options);
    offs = [
      made.on('state', (event) => {
        if (typeof event.orderNo !== 'string') return;
        if (event.type === 'locked' || event.type === 'waitingForOtherTab') {
          stateOf(event.orderNo).locked = true;
          orderNo.value = event.orderNo;
        } else if (event.type === 'outcome') {
          const { type: _, ...outcome } = event;
          const state = stateOf(event.orderNo);
          state.locked = false;
          state.paid ||= outcome.status === 'paid';
          state.outcome = outcome;
          orderNo.value = event.orderNo;
        }
      }),
      made.on('error', (reason) => {
        error.value = reason;
      }),
    ];
    guard.value = made;
  }

  function dispose() {
    if (freed) return;
    freed = true;
    for (const off of offs) off();
    if (inFlight === 0) guard.value?.free();
  }

  if (getCurrentInstance()) onMounted(create);
  else create();
  if (getCurrentScope()) onScopeDispose(dispose);

  function pay(order) {
    const made = guard.value;
    if (!made || freed) {
      return Promise.reject(platformError('checkout-guard/vue: pay() before the component mounted or after it unmounted'));
    }
    const no = typeof order?.orderNo === 'string' ? order.orderNo : null;
    if (no !== null) {
      // Busy from the click on (a `sync` watcher disables at once), before `locked`.
      stateOf(no).pending += 1;
      orderNo.value = no;
    }
    inFlight += 1;
    const settle = () => {
      inFlight -= 1;
      if (freed && inFlight === 0) made.free();
      if (no !== null) stateOf(no).pending -= 1;
    };
    return made.pay(order).then(
      (outcome) => {
        settle();
        return outcome;
      },
      (reason) => {
        settle();
        error.value = reason;
        throw reason;
      },
    );
  }

  const idle = { busy: false, paid: false, outcome: null };
  /** The state of `no`: `{ busy, paid, outcome }`, read reactively. */
  function of(no) {
    const state = orders.value[no];
    if (!state) return idle;
    return { busy: state.pending > 0 || state.locked, paid: state.paid, outcome: state.outcome };
  }
  const shown = () => (orderNo.value === null ? idle : of(orderNo.value));

  return {
    guard: computed(() => guard.value),
    error: computed(() => error.value),
    orderNo: computed(() => orderNo.value),
    busy: computed(() => shown().busy),
    paid: computed(() => shown().paid),
    outcome: computed(() => shown().outcome),
    pay,
    of,
  };
}

/** The element's state from the binding: `{ checkout, order }`. */
function bindingOf(value) {
  if (!value || typeof value.checkout?.pay !== 'function') {
    throw platformError('v-checkout-pay: the value must be `{ checkout, order }` with `checkout` from useCheckoutGuard()');
  }
  return value;
}

const BOUND = new WeakMap();

/**
 * `v-checkout-pay="{ checkout, order }"`: a click pays `order` (an order, or a function
 * returning one) with `checkout` (what `useCheckoutGuard` returned); the element is disabled
 * until the guard is mounted, while the order is being paid and once it is paid, with
 * `aria-busy` while paying and `data-checkout-state` `idle` | `busy` | `paid`.
 */
export const vCheckoutPay = {
  mounted(el, binding) {
    // `current`: the binding's value, a ref so that a new `checkout` or `order` re-runs the effect.
    const own = { current: shallowRef(bindingOf(binding.value)), stop: null, onClick: null };
    own.onClick = (event) => {
      const { checkout, order } = own.current.value;
      if (el.disabled || event.defaultPrevented) return;
      // A failure is in `checkout.error` already.
      checkout.pay(typeof order === 'function' ? order() : order).catch(() => {});
    };
    // `sync`: the element is disabled within the click that made the order busy.
    own.stop = watchEffect(() => {
      const { checkout, order } = own.current.value;
      const no = typeof order === 'function' ? undefined : order?.orderNo;
      const state = no === undefined ? { busy: checkout.busy.value, paid: checkout.paid.value } : checkout.of(no);
      const phase = state.paid ? 'paid' : state.busy ? 'busy' : 'idle';
      el.disabled = checkout.guard.value === null || phase !== 'idle';
      if (phase === 'busy') el.setAttribute('aria-busy', 'true');
      else el.removeAttribute('aria-busy');
      el.dataset.checkoutState = phase;
    }, { flush: 'sync' });
    el.addEventListener('click', own.onClick);
    BOUND.set(el, own);
  },
  updated(el, binding) {
    const own = BOUND.get(el);
    if (!own) return;
    const value = bindingOf(binding.value);
    const was = own.current.value;
    if (value.checkout !== was.checkout || value.order !== was.order) own.current.value = value;
  },
  unmounted(el) {
    const own = BOUND.get(el);
    if (!own) return;
    own.stop();
    el.removeEventListener('click', own.onClick);
    BOUND.delete(el);
  },
};
