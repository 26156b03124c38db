// The uni-app example as its WeChat build (mp-weixin) runs: App.vue's script, where
//
//   import { load } from 'checkout-guard-miniprogram/uniapp';
//
// is bundled by uni-app's compiler (here: `require` of the bundle, which `cargo xtask build`
// copies into static/checkout-guard/; in an app, the package's own copy is bundled and only
// the wasm is copied into static/checkout-guard/, which uni-app puts in the build as it is).
// `uni` is uni-app's API object; the guard's storage, requests and wallet go through it.
const { load } = require('./static/checkout-guard/uniapp.js');

App({
  globalData: {
    // The reference backend (`cargo xtask demo`); a real app uses its own HTTPS domain.
    apiBase: 'http://127.0.0.1:8080',
    buyer: 'uni-buyer',
    // The buyer's openid under the mini-program's appid, which WeChat Pay's JSAPI order needs:
    // a real app gets it at sign-in (`wx.login`, then its server's code2Session).
    openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
  },

  onLaunch() {
    // The wasm from /static/checkout-guard/checkout_guard_bg.wasm.br (the uni-app default);
    // `pageShown()` on every uni.onAppShow, so a payment finished in the background shows at once.
    this.checkout = load({ uni }).then((cg) =>
      cg.createGuard({ baseUrl: this.globalData.apiBase, namespace: 'uniapp-example', scope: this.globalData.buyer }),
    );
    this.checkout.catch((error) => console.error('checkout-guard failed to load', error));
  },
});
