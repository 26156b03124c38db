//! The wasm binding, compiled only for `wasm32`: [`step`], `Core`, the core's second shape for
//! JavaScript (text and numbers in, one JSON batch out). Every build of the npm packages (the
//! browser, bundler and Node entries of `checkout-guard`, and `checkout-guard-miniprogram`)
//! ships it, built alone; the packages' JS (`pkg/guard.js` on the platform pieces of
//! `pkg/platform.js`, `pkg/browser.js` or the mini-program loader) performs the actions.

pub mod step;
