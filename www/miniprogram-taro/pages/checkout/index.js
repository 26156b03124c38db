// The checkout page of the Taro example: pages/checkout/index.jsx as its WeChat build runs it,
// React state kept in the page's data (Taro's runtime renders it with `setData`). The cart page
// navigated here with the cart's id (`Taro.navigateTo({ url: '/pages/checkout/index?cart=' +
// id })`); every Pay submits the cart (`guard.submit`: one business order per cart, however
// often) and pays the order it names (`guard.pay`: at most one charge).
const app = getApp();

/** What the page says for each outcome of `pay`. */
function describe(outcome) {
  switch (outcome.status) {
    case 'paid':
      return 'Paid. Thank you!';
    case 'cancelled':
      return 'Not paid. Tap Pay to open the same payment again.';
    case 'pending':
      return 'WeChat Pay has not answered yet. Tap Pay in a moment to check.';
    default:
      return 'The payment failed. Tap Pay to try again.';
  }
}

Page({
  data: { orderNo: '', busy: false, outcome: '', text: '' },

  onLoad({ cart }) {
    // Paid with `Taro.requestPayment` in the mini-program (`scene`), by this payer: the payment
    // center makes a WeChat Pay JSAPI prepay for it.
    this.cart = {
      cartId: cart,
      amount: 1999,
      currency: 'CNY',
      items: [{ sku: 'oolong', qty: 1 }],
      scene: 'miniprogram',
      payerId: app.globalData.openid,
    };
    // `useRef` in the component: a tap that arrives before `busy` re-renders is ignored.
    this.inFlight = null;
  },

  /** `<Button disabled={busy || outcome === 'paid'} onClick={pay}>`. */
  onPay() {
    if (this.inFlight || this.data.outcome === 'paid') return null;
    this.setData({ busy: true });
    this.inFlight = app.checkout
      .then(async (guard) => {
        const submitted = await guard.submit(this.cart);
        this.setData({ orderNo: submitted.orderNo });
        return guard.pay({ orderNo: submitted.orderNo, content: this.cart });
      })
      .then(
        (outcome) => {
          this.setData({ busy: false, outcome: outcome.status, text: describe(outcome) });
          return outcome;
        },
        (error) => {
          this.setData({ busy: false, outcome: 'error', text: `Cannot pay (${error.code || 'error'}): ${error.message}` });
          return null;
        },
      )
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  },
});
