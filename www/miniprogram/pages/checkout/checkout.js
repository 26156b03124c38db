// The checkout page: creates the order on the merchant backend, then pays it through the
// guard. The Pay button is bound with `bindPay`, which locks on the first tap (taps that
// arrive before the re-render disables the button are ignored) and shows the outcome.
const app = getApp();

const CONTENT = { amount: 1999, currency: 'CNY', items: [{ sku: 'oolong', qty: 1 }] };

const MESSAGES = {
  paid: 'Paid. Thank you!',
  cancelled: 'Payment cancelled. Tap Pay to try again: the same payment is reused.',
  failed: 'The payment failed. Tap Pay to try again.',
  pending: 'We could not confirm the payment yet. Tap "Check payment" in a moment.',
};

Page({
  data: {
    amountText: (CONTENT.amount / 100).toFixed(2),
    orderNo: '',
    paying: false,
    checkoutStatus: '',
    message: '',
  },

  onLoad() {
    this.ready = app.checkout
      .then(({ cg, guard }) => {
        this.payHandler = cg.bindPay(this, {
          guard,
          getOrder: () => this.order,
          onOutcome: (outcome) => this.setData({ message: MESSAGES[outcome.status] || outcome.status }),
          onError: (error) => this.setData({ message: `Cannot pay: ${error.message}` }),
        });
        this.unlistenStorage = guard.on('storage', (event) => {
          console.warn('checkout-guard storage:', event.message);
        });
        return this.createOrder();
      })
      .catch((error) => {
        this.setData({ message: `Cannot pay: ${error.message}` });
      });
  },

  onUnload() {
    if (this.unlistenStorage) this.unlistenStorage();
  },

  /** The merchant creates the business order; its number never changes on a retry. */
  createOrder() {
    return new Promise((resolve, reject) => {
      wx.request({
        url: `${app.globalData.apiBase}/api/orders`,
        method: 'POST',
        header: { 'Content-Type': 'application/json' },
        data: JSON.stringify({ content: CONTENT }),
        success: (res) => {
          if (res.statusCode !== 201) {
            reject(new Error(`order not created (HTTP ${res.statusCode})`));
            return;
          }
          const body = typeof res.data === 'string' ? JSON.parse(res.data) : res.data;
          this.order = { orderNo: body.orderNo, content: CONTENT };
          this.setData({ orderNo: body.orderNo });
          resolve(this.order);
        },
        fail: (err) => reject(new Error(err.errMsg)),
      });
    });
  },

  onPay(event) {
    return this.payHandler ? this.payHandler(event) : null;
  },
});
