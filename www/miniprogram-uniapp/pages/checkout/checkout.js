// The checkout page of the uni-app example: pages/checkout/checkout.vue's script as its WeChat
// build runs it (uni-app turns `this.paying = true` into `setData`). The cart id comes from the
// cart page (`uni.navigateTo({ url: '/pages/checkout/checkout?cart=' + id })`); Pay makes the
// business order once (`guard.submit`: a double tap is one order) and pays it (`guard.pay`: at
// most one charge, a cancelled wallet reopened with the same prepay).
const app = getApp();

const MESSAGES = {
  paid: 'Paid. Thank you!',
  cancelled: 'Payment cancelled. Tap Pay to try again: the same payment is reused.',
  failed: 'The payment failed. Tap Pay to try again.',
  pending: 'We could not confirm the payment yet. Tap Pay in a moment to check.',
};

Page({
  data: { orderNo: '', paying: false, status: '', message: '' },

  onLoad(query) {
    // Paid with `uni.requestPayment` in the mini-program (`scene`), by this payer: the payment
    // center makes a WeChat Pay JSAPI prepay for it.
    this.content = {
      cartId: query.cart,
      amount: 1999,
      currency: 'CNY',
      items: [{ sku: 'oolong', qty: 1 }],
      scene: 'miniprogram',
      payerId: app.globalData.openid,
    };
    this.order = null;
    this.locked = false;
  },

  /** `<button :disabled="paying || status === 'paid'" @tap="onPay">`: the flag is set before
   * the re-render, since a second tap can arrive before the button shows disabled. */
  onPay() {
    if (this.locked || this.data.status === 'paid') return null;
    this.locked = true;
    this.setData({ paying: true });
    const done = (data) => {
      this.locked = false;
      this.setData({ paying: false, ...data });
    };
    return app.checkout
      .then((guard) => this.placeOrder(guard).then((order) => guard.pay(order)))
      .then(
        (outcome) => {
          done({ status: outcome.status, message: MESSAGES[outcome.status] || outcome.status });
          return outcome;
        },
        (error) => {
          done({ status: 'error', message: `Cannot pay: ${error.message}` });
          return null;
        },
      );
  },

  /** The order of this cart: the one it has, else `guard.submit` (one order per cart). */
  placeOrder(guard) {
    if (this.order) return Promise.resolve(this.order);
    return guard.submit(this.content).then((submitted) => {
      this.order = { orderNo: submitted.orderNo, content: this.content };
      this.setData({ orderNo: submitted.orderNo });
      return this.order;
    });
  },
});
