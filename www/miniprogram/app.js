// The example app: loads the checkout-guard bundle once and makes one guard for the app.
//
// `apiBase` is the reference backend (`cargo xtask demo` serves it on http://127.0.0.1:8080;
// in DevTools, turn off the legal-domain check, "不校验合法域名"). A real app uses its own HTTPS
// domain, listed in the mini-program's request domains.
const { load } = require('./checkout-guard/index.js');

App({
  globalData: {
    apiBase: 'http://127.0.0.1:8080',
    // Whose records these are: one buyer's orders apart from another's on a shared phone.
    buyer: 'demo-buyer',
    // The buyer's openid under this mini-program's appid: WeChat Pay's JSAPI order needs it
    // (`content.payerId`). A real app gets it when the buyer signs in (`wx.login`, then its
    // server's code2Session); the demo's is fixed (the example openid of WeChat Pay's guides).
    openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
    // The guard's tuning, e.g. `launchTimeoutMs` (how long a silent wallet is waited for before
    // the payment ends `pending`, 90 s by default); the defaults suit WeChat Pay.
    guardOptions: {},
  },

  onLaunch() {
    // The wasm is instantiated from the code package; entropy for the idempotency keys comes
    // from wx.getRandomValues before the guard exists.
    this.checkout = load({ wasmPath: '/checkout-guard/checkout_guard_bg.wasm.br' }).then((cg) => ({
      cg,
      // `baseUrl` gives the three endpoints: submit (POST /api/orders), create and status.
      guard: cg.createGuard({
        ...this.globalData.guardOptions,
        baseUrl: this.globalData.apiBase,
        namespace: 'example',
        scope: this.globalData.buyer,
      }),
    }));
    // A failure here (an old base library) shows on the page as "cannot pay".
    this.checkout.catch((error) => console.error('checkout-guard failed to load', error));
  },
});
