/**
 * checkout-guard for React (>= 18): a hook that owns a guard for the component's life and a
 * button that renders its state through React.
 *
 * ```tsx
 * import { PayButton, useCheckoutGuard } from 'checkout-guard/react';
 *
 * function Checkout({ order }: { order: Order }) {
 *   const checkout = useCheckoutGuard({ namespace: 'shop', scope: userIdHash, launch });
 *   return <PayButton checkout={checkout} order={order} />;
 * }
 * ```
 */
import type { ButtonHTMLAttributes, MouseEvent, ReactElement, ReactNode } from 'react';
import type { CheckoutGuard, CheckoutGuardError, CheckoutGuardOptions, Order, Outcome } from './index.js';

/** One order's state, from the guard's events and the hook's own calls. */
export interface OrderState {
  /** From the click (or `locked`) to its `outcome`. */
  busy: boolean;
  /** An outcome `paid` was seen: final. */
  paid: boolean;
  /** The last outcome, or `null`. */
  outcome: Outcome | null;
}

/** What {@link useCheckoutGuard} returns; its fields are React state. */
export interface CheckoutGuardState extends OrderState {
  /** The guard, `null` until the component mounted (and during a server render). */
  guard: CheckoutGuard | null;
  /** Pays through the guard, marking the order busy at once. Rejects before mount or after unmount. */
  pay(order: Order): Promise<Outcome>;
  /** The last error of a `pay` or of an `'error'` event, or `null`. */
  error: CheckoutGuardError | null;
  /** The order that `busy`, `paid` and `outcome` are about: the last paid or heard of. */
  orderNo: string | null;
  /** The state of any order. */
  of(orderNo: string): OrderState;
}

/**
 * Makes a guard with `options` when the component mounts and frees it when it unmounts (once
 * no payment of the hook is in flight). StrictMode-safe: its dev-only unmount and remount keep
 * the one guard. `options` are read once; their functions (`launch`, `prepare`, `dismiss`,
 * `fetch`, `headers`) always call the latest render's.
 */
export function useCheckoutGuard(options: CheckoutGuardOptions): CheckoutGuardState;

/** The props of {@link PayButton}: a `<button>`'s, plus these. */
export interface PayButtonProps extends Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'children'> {
  /** What {@link useCheckoutGuard} returned. */
  checkout: CheckoutGuardState;
  /** The order to pay, or a cheap function returning it (called on the click). */
  order: Order | (() => Order);
  /** The label. Default "Pay". */
  children?: ReactNode;
  /** The label once paid. Default "Paid". */
  paidChildren?: ReactNode;
  /** Called first; `event.preventDefault()` stops the payment. */
  onClick?: (event: MouseEvent<HTMLButtonElement>) => void;
}

/**
 * A `<button>` paying `order`: disabled until the guard is mounted, while paying and once
 * paid; `aria-busy` while paying; `data-checkout-state` `idle` | `busy` | `paid`.
 */
export function PayButton(props: PayButtonProps): ReactElement;
