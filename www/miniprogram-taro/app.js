// The Taro example as its WeChat build (`taro build --type weapp`) runs: app.js, where
//
//   import Taro from '@tarojs/taro';
//   import { load } from 'checkout-guard-miniprogram/taro';
//
// are bundled by Taro (here: `require` of the bundle, which `cargo xtask build` copies into
// checkout-guard/; in an app, the package's own copy is bundled and only the wasm is copied to
// dist/checkout-guard/ by a `copy.patterns` entry of config/index.js).
const Taro = require('@tarojs/taro');
const { load } = require('./checkout-guard/taro.js');

App({
  globalData: {
    // The reference backend (`cargo xtask demo`); a real app uses its own HTTPS domain.
    apiBase: 'http://127.0.0.1:8080',
    buyer: 'taro-buyer',
    // The buyer's openid under the mini-program's appid, which WeChat Pay's JSAPI order needs:
    // a real app gets it at sign-in (`wx.login`, then its server's code2Session).
    openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
  },

  onLaunch() {
    // The wasm from /checkout-guard/checkout_guard_bg.wasm.br (the Taro default). This app
    // tells the guard itself when it comes back to the foreground (`onShow` below, which is
    // what `useDidShow` in a Taro app component compiles to), so the guard's own
    // Taro.onAppShow listener is turned off.
    this.checkout = load({ Taro }).then((cg) =>
      cg.createGuard({
        baseUrl: this.globalData.apiBase,
        namespace: 'taro-example',
        scope: this.globalData.buyer,
        resumeOnShow: false,
      }),
    );
    this.checkout.catch((error) => console.error('checkout-guard failed to load', error));
  },

  /** Back in the foreground: a payment finished in WeChat Pay meanwhile is asked about at once. */
  onShow() {
    if (this.checkout) this.checkout.then((guard) => guard.pageShown(), () => {});
  },
});
