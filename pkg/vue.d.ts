/**
 * checkout-guard for Vue (>= 3): a composable that owns a guard for the component's life and a
 * directive for the Pay button.
 *
 * ```vue
 * <script setup>
 * import { useCheckoutGuard, vCheckoutPay } from 'checkout-guard/vue';
 * const checkout = useCheckoutGuard({ namespace: 'shop', scope: userIdHash, launch });
 * const { paid } = checkout;
 * </script>
 * <template>
 *   <button v-checkout-pay="{ checkout, order }">{{ paid ? 'Paid' : 'Pay' }}</button>
 * </template>
 * ```
 */
import type { ComputedRef, ObjectDirective } from 'vue';
import type { CheckoutGuard, CheckoutGuardError, CheckoutGuardOptions, Order, Outcome } from './index.js';

/** One order's state, from the guard's events and the composable's own calls. */
export interface OrderState {
  /** From the click (or `locked`) to its `outcome`. */
  busy: boolean;
  /** An outcome `paid` was seen: final. */
  paid: boolean;
  /** The last outcome, or `null`. */
  outcome: Outcome | null;
}

/** What {@link useCheckoutGuard} returns: read-only refs, `pay` and `of`. */
export interface CheckoutGuardRefs {
  /** The guard, `null` until the component mounted (and during a server render). */
  guard: ComputedRef<CheckoutGuard | null>;
  /** The last error of a `pay` or of an `'error'` event, or `null`. */
  error: ComputedRef<CheckoutGuardError | null>;
  /** The order that `busy`, `paid` and `outcome` are about: the last paid or heard of. */
  orderNo: ComputedRef<string | null>;
  busy: ComputedRef<boolean>;
  paid: ComputedRef<boolean>;
  outcome: ComputedRef<Outcome | null>;
  /** Pays through the guard, marking the order busy at once. Rejects before mount or after unmount. */
  pay(order: Order): Promise<Outcome>;
  /** The state of any order, read reactively. */
  of(orderNo: string): OrderState;
}

/**
 * Makes a guard with `options` when the component mounts (at once outside a component) and
 * frees it when the component unmounts or the effect scope is disposed, once no payment of
 * the composable is in flight.
 */
export function useCheckoutGuard(options: CheckoutGuardOptions): CheckoutGuardRefs;

/** The value of `v-checkout-pay`. */
export interface CheckoutPayBinding {
  /** What {@link useCheckoutGuard} returned. */
  checkout: CheckoutGuardRefs;
  /** The order to pay, or a cheap function returning it (called on the click). */
  order: Order | (() => Order);
}

/**
 * `v-checkout-pay="{ checkout, order }"`: a click pays `order`; the element is disabled until
 * the guard is mounted, while paying and once paid, with `aria-busy` while paying and
 * `data-checkout-state` `idle` | `busy` | `paid`. It owns `disabled`: do not bind it too.
 */
export declare const vCheckoutPay: ObjectDirective<HTMLElement, CheckoutPayBinding>;
