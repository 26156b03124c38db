// checkout-guard for React (>= 18): `useCheckoutGuard` owns a guard for the component's life
// and turns its events into React state; `PayButton` renders that state (disabled while
// paying, "Paid" when paid) through React, where `attach()` would set `disabled` on a button
// React renders and fights it.
//
// The guard is made in an effect, never while rendering (a render may run twice, or on a
// server) and freed when the component unmounts. StrictMode's dev-only unmount and remount
// runs synchronously: the free is deferred to a task and the remount cancels it, so one guard
// serves the component for its whole life, never two. A guard is freed only once no `pay` of
// the hook is in flight (an unmount during a payment frees it when the payment settles).
//
// Plain `createElement`, no JSX: this file ships as it is.
import { createElement, useCallback, useEffect, useRef, useState } from 'react';
import { CheckoutGuard } from './index.js';
import { platformError } from './errors.js';

/** Option names whose functions are called through the latest render's options. */
const CALLBACKS = ['launch', 'prepare', 'dismiss', 'fetch', 'headers'];
/** An order's state: `pending` calls of this hook, `locked` from the guard's events. */
const IDLE = Object.freeze({ pending: 0, locked: false, busy: false, paid: false, outcome: null });

/** `options` for the guard, its callbacks reading `latest.current` (the last render's). */
function guardOptions(options, latest) {
  const made = { ...options };
  for (const name of CALLBACKS) {
    if (typeof options[name] === 'function') made[name] = (...args) => latest.current[name](...args);
  }
  return made;
}

/** Frees `slot.guard` once no call of the hook is in flight (now, or when the last settles). */
function freeWhenIdle(slot) {
  slot.freed = true;
  if (slot.inFlight === 0) slot.guard.free();
}

/** `orders` with `orderNo`'s state changed by `change(state)`. */
function update(orders, orderNo, change) {
  const was = orders[orderNo] ?? IDLE;
  const now = { ...was, ...change(was) };
  now.busy = now.pending > 0 || now.locked;
  return { ...orders, [orderNo]: now };
}

/** The per-order state after a `'state'` event, or `orders` unchanged. */
function withEvent(orders, event) {
  if (typeof event.orderNo !== 'string') return orders;
  if (event.type === 'locked' || event.type === 'waitingForOtherTab') {
    return orders[event.orderNo]?.locked ? orders : update(orders, event.orderNo, () => ({ locked: true }));
  }
  if (event.type === 'outcome') {
    const { type: _, ...outcome } = event;
    return update(orders, event.orderNo, (was) => ({ locked: false, paid: was.paid || outcome.status === 'paid', outcome }));
  }
  return orders;
}

/**
 * The guard of this component, made on mount with `options` (read once; its callbacks always
 * call the latest render's) and freed on unmount. Returns its state as React state: `guard`
 * (`null` until mounted), `pay(order)`, `error` (the last error of a `pay` or an `'error'`
 * event), `orderNo`, `busy`, `paid` and `outcome` of the order last paid or heard of, and
 * `of(orderNo)` for any other.
 */
export function useCheckoutGuard(options) {
  const latest = useRef(options);
  latest.current = options;
  /** `{ guard, inFlight, freed, freeTimer }`, kept across StrictMode's unmount and remount. */
  const slot = useRef(null);
  const [guard, setGuard] = useState(null);
  const [orders, setOrders] = useState({});
  const [current, setCurrent] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let own = slot.current;
    if (own && own.freeTimer !== null) {
      clearTimeout(own.freeTimer);
      own.freeTimer = null;
    } else {
      own = slot.current = {
        guard: new CheckoutGuard(guardOptions(latest.current, latest)),
        inFlight: 0,
        freed: false,
        freeTimer: null,
      };
    }
    setGuard(own.guard);
    const offState = own.guard.on('state', (event) => {
      setOrders((orders) => withEvent(orders, event));
      if (event.type === 'locked' || event.type === 'outcome') setCurrent(event.orderNo);
    });
    const offError = own.guard.on('error', setError);
    return () => {
      offState();
      offError();
      own.freeTimer = setTimeout(() => {
        own.freeTimer = null;
        if (slot.current === own) slot.current = null;
        freeWhenIdle(own);
      }, 0);
    };
  }, []);

  const pay = useCallback((order) => {
    const own = slot.current;
    if (!own || own.freed) {
      return Promise.reject(platformError('checkout-guard/react: pay() before the component mounted or after it unmounted'));
    }
    // Busy from the click on, before the guard's `locked` event: the next render disables.
    const orderNo = typeof order?.orderNo === 'string' ? order.orderNo : null;
    if (orderNo !== null) {
      setCurrent(orderNo);
      setOrders((orders) => update(orders, orderNo, (was) => ({ pending: was.pending + 1 })));
    }
    own.inFlight += 1;
    const settle = () => {
      own.inFlight -= 1;
      if (own.freed && own.inFlight === 0) own.guard.free();
      if (orderNo !== null) setOrders((orders) => update(orders, orderNo, (was) => ({ pending: was.pending - 1 })));
    };
    return own.guard.pay(order).then(
      (outcome) => {
        settle();
        return outcome;
      },
      (reason) => {
        settle();
        setError(reason);
        throw reason;
      },
    );
  }, []);

  const of = useCallback((orderNo) => orders[orderNo] ?? IDLE, [orders]);
  const shown = (current !== null && orders[current]) || IDLE;
  return { guard, pay, error, orderNo: current, busy: shown.busy, paid: shown.paid, outcome: shown.outcome, of };
}

/**
 * A `<button>` that pays `order` (an order, or a function returning one, called on the click)
 * with `checkout` (what `useCheckoutGuard` returned): disabled until the guard is mounted,
 * while the order is being paid and once it is paid, `aria-busy` while paying, and
 * `data-checkout-state` `idle` | `busy` | `paid` as `attach()` sets it. Shows `children`
 * (default "Pay"), or `paidChildren` (default "Paid") once paid. Other props go to the button;
 * an `onClick` that calls `event.preventDefault()` stops the payment.
 */
export function PayButton({ checkout, order, children = 'Pay', paidChildren = 'Paid', onClick, disabled, ...props }) {
  const orderNo = typeof order === 'function' ? undefined : order?.orderNo;
  const state = orderNo === undefined ? checkout : checkout.of(orderNo);
  const phase = state.paid ? 'paid' : state.busy ? 'busy' : 'idle';
  return createElement(
    'button',
    {
      type: 'button',
      ...props,
      disabled: Boolean(disabled) || checkout.guard === null || phase !== 'idle',
      'aria-busy': phase === 'busy' ? true : undefined,
      'data-checkout-state': phase,
      onClick(event) {
        onClick?.(event);
        if (event.defaultPrevented) return;
        // A failure is in `checkout.error` already.
        checkout.pay(typeof order === 'function' ? order() : order).catch(() => {});
      },
    },
    state.paid ? paidChildren : children,
  );
}
