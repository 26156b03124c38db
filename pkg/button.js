// The Pay button in a page, for ./guard.js on the browser's platform (`attach` and `adopt` of
// `browserPlatform` in ./shell.js): `attach(element, getOrder)` locks the element the moment
// it is clicked, synchronously, then pays; each outcome shows on it. The mini-program has no
// DOM element (its loader binds the button with `bindPay`), so its bundle leaves this out.
//
// The engine (./guard.js) keeps the state: `attached` (the elements and their `getOrder`),
// `buttons` (the `Button` per order, locked on `lockUi` and shown on `unlockUi`), `flights`
// (the calls in flight, for the double click), `pay` and `emit`.
import { describe } from './canonical.js';
import { guardError } from './errors.js';

// The Pay button: locked the moment a payment starts (disabled, `aria-busy="true"`,
// `data-checkout-state="busy"`), showing the outcome when it ends: `disabled` and `aria-busy`
// back to what they were, `data-checkout-state` naming the outcome. `paid` keeps it disabled.

export const STATE_ATTRIBUTE = 'data-checkout-state';

export class Button {
  #saved;

  constructor(element) {
    this.element = element;
  }

  lock() {
    const element = this.element;
    this.#saved ??= { disabled: element.hasAttribute('disabled'), ariaBusy: element.getAttribute('aria-busy') };
    element.setAttribute('disabled', '');
    element.setAttribute('aria-busy', 'true');
    element.setAttribute(STATE_ATTRIBUTE, 'busy');
  }

  /** `status`: the outcome's, or `null` (a refused call: back to plain "pay"). */
  show(status) {
    const element = this.element;
    const saved = this.#saved ?? { disabled: element.hasAttribute('disabled'), ariaBusy: null };
    this.#saved = undefined;
    if (saved.disabled || status === 'paid') element.setAttribute('disabled', '');
    else element.removeAttribute('disabled');
    if (saved.ariaBusy === null) element.removeAttribute('aria-busy');
    else element.setAttribute('aria-busy', saved.ariaBusy);
    if (status === null || status === undefined) element.removeAttribute(STATE_ATTRIBUTE);
    else element.setAttribute(STATE_ATTRIBUTE, status);
  }
}

/** `attach()` of the guard whose engine is `engine` (see `CheckoutGuard.attach`). */
export function attach(engine, element, getOrder) {
  const id = engine.nextAttach++;
  engine.attached.push({ id, element, getOrder });
  const onClick = (event) => {
    if (typeof event.key === 'string') {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
    }
    click(engine, element, getOrder);
  };
  element.addEventListener('click', onClick);
  // A <button> turns Enter and Space into clicks by itself.
  const isButton = String(element.tagName).toLowerCase() === 'button';
  if (!isButton) element.addEventListener('keydown', onClick);
  return () => {
    element.removeEventListener('click', onClick);
    element.removeEventListener('keydown', onClick);
    engine.attached = engine.attached.filter((a) => a.id !== id);
  };
}

/**
 * An order's call ended that no click in this tab started (another tab's outcome): the attached
 * element whose `getOrder()` shows this order becomes its button, to show the outcome.
 */
export function adopt(engine, orderNo) {
  for (const { element, getOrder } of [...engine.attached]) {
    try {
      if (getOrder()?.orderNo === orderNo) {
        engine.buttons.set(orderNo, new Button(element));
        return;
      }
    } catch {
      // A getter that throws is skipped.
    }
  }
}

/** One click on an attached element: lock at once, then pay. */
function click(engine, element, getOrder) {
  let order;
  let threw;
  try {
    order = getOrder();
  } catch (error) {
    threw = guardError('invalid_order', `getOrder() threw: ${describe(error)}`);
  }
  const orderNo = threw === undefined && typeof order?.orderNo === 'string' ? order.orderNo : undefined;
  // Lock first, synchronously, before anything can yield to the event loop.
  if (orderNo !== undefined) {
    let button = engine.buttons.get(orderNo);
    if (!button) {
      button = new Button(element);
      engine.buttons.set(orderNo, button);
    }
    button.lock();
  }
  let promise;
  if (threw !== undefined) promise = Promise.reject(threw);
  else {
    const flight = engine.flights.get(orderNo);
    // The very order in flight (a double click): nothing to start, nothing to allocate; its
    // failure is reported once, by whoever started the flight.
    if (flight !== undefined && flight[0] === order && flight[1] === order.content) return;
    const paid = engine.pay(order);
    promise = paid.promise;
    if (paid.error && orderNo !== undefined) {
      engine.buttons.get(orderNo)?.show(null);
      engine.buttons.delete(orderNo);
    }
  }
  // A click has no caller to reject to: failures go to the 'error' listeners.
  promise.catch((error) => engine.emit('error', error));
}
