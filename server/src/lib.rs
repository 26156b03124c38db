//! The reference merchant backend for checkout-guard: the merchant API of `docs/contract.md`
//! in front of a simulated WeChat-Pay-like provider, on SQLite. Built in issue 4.
