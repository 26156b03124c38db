// The buyer's side: the guard's `launch` option. It shows the provider's code URL and opens the
// simulated wallet (`prepay.walletUrl`, same origin) in an embedded frame, then settles when the
// buyer is done there:
//
// - the wallet's forms post to `/sim/wallet/{prepayId}/{confirm|cancel}` and the frame loads the
//   result page; being same-origin, this page reads which action it was and whether the wallet
//   said "Done" or "Refused";
// - "Close the wallet" is the buyer walking away: `cancelled`;
// - "Decline" asks the simulated wallet to fail the payment (PAYERROR): `failed`.
//
// A real shop would call the provider's JSAPI / open its app here instead.
//
// With `provider = "wechatpay"` (`cargo xtask demo --wechatpay`) the prepay has the real Native
// shape, `{ codeUrl }`: the pane draws it as a QR code (the npm `qrcode` package, bundled into
// `vendor/qrcode.js` by `cargo xtask build`) and shows the WeChat Pay simulator's scan page, on
// its own origin, as the buyer's phone. That frame cannot be read from here, so the buyer ends
// the launch as on a real checkout: "I have paid" (`ok`: the guard then asks the server) or
// "Close the wallet" (`cancelled`). An H5 prepay, `{ h5Url }` (the "Phone browser (H5)" scene),
// sends the whole page to WeChat Pay's H5 page with a `redirect_url` back here
// (`/?h5-return=<orderNo>`): the page is gone, so the launch never settles; on the way back the
// page calls `guard.resume(orderNo)` (app.js), whose outcome is the server's word.

import { wallet as walletApi } from './api.js';

/**
 * @param {object} ui the pane's elements
 * @param {(text: string, kind?: string) => void} note writes to the timeline
 */
export function createWallet(ui, note) {
  const IDLE = ui.idleText.textContent;
  /** The launch in progress: `{ resolve, prepayId }`. */
  let open = null;
  /** What `GET /sim/provider` said: `{ provider: 'sim' }` or `{ provider: 'wechatpay', baseUrl }`. */
  let provider = { provider: 'sim' };

  /** Ends the open launch with `result`; `keepFrame` leaves the wallet's result page in view. */
  function settle(result, why, keepFrame = false) {
    if (!open) return;
    const { resolve } = open;
    open = null;
    ui.close.disabled = true;
    ui.decline.disabled = true;
    ui.paid.disabled = true;
    if (!keepFrame) {
      // The buyer left: no stale Confirm button stays on screen.
      ui.frame.src = 'about:blank';
      ui.pane.hidden = true;
      ui.idle.hidden = false;
      ui.idleText.textContent = `Wallet closed: ${why}.`;
    }
    note(`Wallet closed: ${why} → launch settles "${result}"`, 'wallet');
    resolve(result);
  }

  ui.frame.addEventListener('load', () => {
    if (!open) return;
    let doc = null;
    try {
      doc = ui.frame.contentDocument;
    } catch {
      return; // not same-origin: nothing to read
    }
    const path = doc?.location?.pathname ?? '';
    const action = /^\/sim\/wallet\/[^/]+\/(confirm|cancel)$/.exec(path)?.[1];
    if (!action) return; // the wallet page itself
    const done = doc.querySelector('h1')?.textContent?.trim() === 'Done';
    const message = doc.getElementById('result')?.textContent?.trim() ?? '';
    if (action === 'confirm') {
      // A refusal because it is already paid is still a finished payment: the guard asks the
      // server either way.
      settle(done || /paid/i.test(message) ? 'ok' : 'failed', message || 'confirmed', true);
    } else {
      settle('cancelled', message || 'cancelled', true);
    }
  });

  ui.close.addEventListener('click', () => settle('cancelled', 'the buyer closed the wallet'));
  ui.paid.addEventListener('click', () => settle('ok', 'the buyer says they paid on the phone', true));
  ui.decline.addEventListener('click', async () => {
    if (!open) return;
    const { prepayId } = open;
    try {
      await walletApi.act(prepayId, 'fail');
      settle('failed', 'the wallet declined the payment');
    } catch (error) {
      note(`Wallet: ${error.message}`, 'error');
    }
  });

  /** Opens the pane for a prepay of the real Native shape: the QR code and the scan page. */
  async function launchNative(prepay, context) {
    const codeUrl = String(prepay.codeUrl);
    ui.idle.hidden = true;
    ui.pane.hidden = false;
    ui.codeUrl.textContent = codeUrl;
    ui.codeUrl.title = codeUrl;
    ui.attempt.textContent = context.attemptId;
    ui.close.disabled = false;
    ui.paid.disabled = false;
    ui.paid.hidden = false;
    ui.decline.hidden = true;
    ui.frame.src = `${provider.baseUrl}/sim/scan?code_url=${encodeURIComponent(codeUrl)}`;
    ui.pane.focus();
    const settled = new Promise((resolve) => {
      open = { resolve, prepayId: '' };
    });
    try {
      const { toCanvas } = await import('./vendor/qrcode.js');
      await toCanvas(ui.qr, codeUrl, { width: 160, margin: 1 });
      // Shown once drawn: never an empty square while the QR module loads.
      ui.qr.hidden = false;
    } catch (error) {
      note(`Wallet: cannot draw the QR code (${error.message}); the scan page still works`, 'error');
    }
    return settled;
  }

  /** Sends the buyer to WeChat Pay's H5 page, which comes back to `redirect_url`. */
  function launchH5(prepay, context) {
    const h5Url = String(prepay.h5Url);
    // Only ever WeChat Pay's own page (the simulator's, in the demo).
    if (!h5Url.startsWith(`${provider.baseUrl}/`)) {
      note(`Wallet: the h5Url of ${context.attemptId} is not WeChat Pay's`, 'error');
      return 'failed';
    }
    const back = new URL(location.pathname, location.origin);
    back.searchParams.set('h5-return', context.orderNo);
    const target = `${h5Url}${h5Url.includes('?') ? '&' : '?'}redirect_url=${encodeURIComponent(back.href)}`;
    note(`Going to WeChat Pay's H5 page for attempt ${context.attemptId}; it comes back to ${back.href}`, 'wallet');
    location.assign(target);
    // The page is leaving: this launch never settles here.
    return new Promise(() => {});
  }

  /** The guard's `launch(prepay, { orderNo, attemptId })`. */
  function launch(prepay, context) {
    settle('cancelled', 'another payment was launched'); // at most one open wallet
    ui.paid.hidden = true;
    ui.qr.hidden = true;
    ui.decline.hidden = false;
    if (provider.provider === 'wechatpay' && typeof prepay.h5Url === 'string') {
      return launchH5(prepay, context);
    }
    if (provider.provider === 'wechatpay' && typeof prepay.codeUrl === 'string') {
      return launchNative(prepay, context);
    }
    const walletUrl = typeof prepay.walletUrl === 'string' ? prepay.walletUrl : '';
    // Only ever frame this server's own wallet page.
    if (!walletUrl.startsWith('/sim/wallet/')) {
      note(`Wallet: the prepay for ${context.attemptId} has no wallet page`, 'error');
      return 'failed';
    }
    ui.idle.hidden = true;
    ui.pane.hidden = false;
    ui.idleText.textContent = IDLE;
    ui.codeUrl.textContent = String(prepay.codeUrl ?? '');
    ui.codeUrl.title = String(prepay.codeUrl ?? '');
    ui.attempt.textContent = context.attemptId;
    ui.close.disabled = false;
    ui.decline.disabled = false;
    ui.frame.src = walletUrl;
    // The buyer's next step is there (below the checkout on a phone).
    ui.pane.focus();
    return new Promise((resolve) => {
      open = { resolve, prepayId: String(prepay.prepayId ?? '') };
    });
  }

  /** Back to "no payment open" (a new order). */
  function reset() {
    settle('cancelled', 'a new order was started');
    ui.pane.hidden = true;
    ui.idle.hidden = false;
    ui.idleText.textContent = IDLE;
    ui.frame.src = 'about:blank';
  }

  /** Which provider the server runs (`GET /sim/provider`), for how prepays are launched. */
  function setProvider(info) {
    if (info?.provider === 'wechatpay' && typeof info.baseUrl === 'string') {
      provider = { provider: 'wechatpay', baseUrl: info.baseUrl.replace(/\/$/, '') };
    }
  }

  return { launch, reset, setProvider, isOpen: () => open !== null };
}
