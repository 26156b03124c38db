// The checkout page: one cart, one business order, paid at most once, even when the app is
// killed and launched again in the middle of it.
//
// The cart the buyer agrees to is kept in wx storage with its own random id, and so is the
// number of the business order made from it. The Pay button submits the cart with
// `guard.submit(cart)` (the guard keeps the submission's idempotency key in wx storage, so a
// double tap or a relaunch during the request makes one order), then pays that order with
// `guard.pay(order)`. On launch the page takes the order it had back and asks the guard what
// became of it (`guard.resume`): an order paid while the app was gone shows as paid, never as a
// new order to pay. A new cart (a new id, hence a new order) is made only when the buyer starts
// over, or orders again after paying.
const app = getApp();

/** What is for sale on this page; the cart's content is what the buyer agrees to pay for. */
const ITEMS = [{ sku: 'oolong', qty: 1 }];
const AMOUNT = 1999;
const CURRENCY = 'CNY';

const CART_VERSION = 1;

const MESSAGES = {
  paid: 'Paid. Thank you!',
  cancelled: 'Payment cancelled. Tap Pay to try again: the same payment is reused.',
  failed: 'The payment failed. Tap Pay to try again.',
  pending: 'We could not confirm the payment yet. Tap "Check payment" in a moment.',
};

/** The page's words for an outcome. */
function messageFor(outcome) {
  if (outcome.status === 'cancelled' && outcome.reason === 'not_started') {
    return `Order ${outcome.orderNo} is waiting for payment. Tap Pay to pay it.`;
  }
  if (outcome.status === 'pending' && outcome.reason === 'wallet_no_reply') {
    return 'WeChat Pay did not answer. If you paid, it shows here in a moment; else tap "Check payment" to open the same payment again.';
  }
  return MESSAGES[outcome.status] || outcome.status;
}

/** Where this buyer's cart is kept: wx storage outlives the app being killed. */
function cartKey() {
  return `checkout-example/${app.globalData.buyer}/cart`;
}

/** `byteCount` random bytes as hex, from `wx.getRandomValues` (callback-only). */
function randomHex(byteCount) {
  return new Promise((resolve, reject) => {
    wx.getRandomValues({
      length: byteCount,
      success: (res) => {
        const bytes = new Uint8Array(res.randomValues);
        let hex = '';
        for (let i = 0; i < bytes.length; i += 1) hex += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
        resolve(hex);
      },
      fail: (err) => reject(new Error((err && err.errMsg) || 'getRandomValues:fail')),
    });
  });
}

/** Where the buyer pays: `wx.requestPayment` in this mini-program, as the payer with this
 * openid (part of the content, so the payment center makes a JSAPI prepay for it). An app that
 * knows no openid names no scene: only a payment center on its in-process simulated provider
 * can launch that. */
function payer() {
  const openid = app.globalData.openid;
  return openid ? { scene: 'miniprogram', payerId: openid } : {};
}

/** A new cart: a new id, so submitting it makes a new business order. */
function newCart() {
  return randomHex(12).then((hex) => ({
    v: CART_VERSION,
    content: { cartId: `cart-${hex}`, amount: AMOUNT, currency: CURRENCY, items: ITEMS, ...payer() },
    orderNo: '',
    paid: false,
  }));
}

/** The stored cart, or null (none, or not one this page wrote). */
function readCart() {
  let stored;
  try {
    stored = wx.getStorageSync(cartKey());
  } catch (error) {
    return null;
  }
  const ok =
    stored &&
    typeof stored === 'object' &&
    stored.v === CART_VERSION &&
    stored.content &&
    typeof stored.content.cartId === 'string' &&
    typeof stored.orderNo === 'string' &&
    typeof stored.paid === 'boolean';
  return ok ? stored : null;
}

/** Stores the cart. When wx storage refuses (full), the page goes on with its copy in memory:
 * the guard's own records and the server's de-duplication still make one order per cart. */
function saveCart(cart) {
  try {
    wx.setStorageSync(cartKey(), cart);
  } catch (error) {
    console.warn('checkout example: the cart is kept in memory only:', (error && error.errMsg) || error.message);
  }
}

Page({
  data: {
    amountText: (AMOUNT / 100).toFixed(2),
    /** The cart is read (or made) and the guard is loaded: the Pay button may be used. */
    loaded: false,
    orderNo: '',
    paying: false,
    checkoutStatus: '',
    message: '',
  },

  onLoad() {
    this.locked = false;
    this.ready = app.checkout
      .then(({ guard }) => {
        this.guard = guard;
        this.unlisten = [
          guard.on('storage', (event) => {
            console.warn('checkout-guard storage:', event.message);
          }),
          // Outcomes of `resume` arrive only here; those of `pay` arrive here too.
          guard.on('outcome', (outcome) => {
            if (this.order && outcome.orderNo === this.order.orderNo) this.showOutcome(outcome);
          }),
        ];
        const stored = readCart();
        if (stored) return stored;
        return newCart().then((cart) => {
          saveCart(cart);
          return cart;
        });
      })
      .then((cart) => this.useCart(cart))
      .catch((error) => {
        this.setData({ message: `Cannot pay: ${error.message}` });
      });
  },

  onUnload() {
    for (const unlisten of this.unlisten || []) unlisten();
    this.unlisten = [];
  },

  /** Shows `cart`; when it has an order already (an earlier launch submitted it), asks the
   * guard what became of it. `resume` never opens the wallet: its answer is an outcome event. */
  useCart(cart) {
    this.cart = cart;
    this.order = cart.orderNo ? { orderNo: cart.orderNo, content: cart.content } : null;
    let message = '';
    if (cart.paid) message = MESSAGES.paid;
    else if (cart.orderNo) message = `Checking order ${cart.orderNo}… Not paid yet? Tap Pay.`;
    this.setData({
      loaded: true,
      orderNo: cart.orderNo,
      checkoutStatus: cart.paid ? 'paid' : '',
      message,
    });
    if (cart.orderNo) this.guard.resume(cart.orderNo);
  },

  /** The business order of this cart: the one it has, else `guard.submit(cart)`, whose
   * idempotency key (kept in wx storage) makes one order however often this runs. */
  placeOrder() {
    if (this.order) return Promise.resolve(this.order);
    const cart = this.cart;
    return this.guard.submit(cart.content).then((submitted) => {
      cart.orderNo = submitted.orderNo;
      saveCart(cart);
      this.order = { orderNo: submitted.orderNo, content: cart.content };
      this.setData({ orderNo: submitted.orderNo });
      return this.order;
    });
  },

  showOutcome(outcome) {
    const cart = this.cart;
    if (outcome.status === 'paid' && cart && cart.orderNo === outcome.orderNo && !cart.paid) {
      cart.paid = true;
      saveCart(cart);
    }
    this.setData({ checkoutStatus: outcome.status, message: messageFor(outcome) });
  },

  /** The Pay button: locks at once (WeChat can deliver a second tap before the re-render
   * disables the button), submits the cart if it has no order yet, pays the order, unlocks. */
  onPay() {
    if (this.locked || !this.data.loaded || this.data.paying || this.data.checkoutStatus === 'paid') return null;
    this.locked = true;
    this.setData({ paying: true });
    const unlock = (data) => {
      this.locked = false;
      this.setData({ paying: false, ...data });
    };
    return this.placeOrder()
      .then((order) => this.guard.pay(order))
      .then(
        (outcome) => {
          unlock({});
          this.showOutcome(outcome);
          return outcome;
        },
        (error) => {
          const message =
            error.code === 'network'
              ? 'The shop could not be reached. Tap Pay to try again: no second order is made.'
              : `Cannot pay: ${error.message}`;
          unlock({ checkoutStatus: 'error', message });
          return null;
        },
      );
  },

  /** "New order" after paying, "Start over" after a cancelled or failed payment: a new cart.
   * Never while paying, nor while a payment is unconfirmed (`pending`: it may have gone
   * through). */
  onNewCart() {
    const status = this.data.checkoutStatus;
    const settled = status === 'paid' || status === 'cancelled' || status === 'failed' || status === 'error';
    if (this.locked || this.data.paying || !settled) return null;
    this.locked = true;
    return newCart().then(
      (cart) => {
        saveCart(cart);
        this.locked = false;
        this.useCart(cart);
        return cart;
      },
      (error) => {
        this.locked = false;
        this.setData({ message: `Cannot start a new order: ${error.message}` });
        return null;
      },
    );
  },
});
