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

import { wallet as walletApi } from './api.js';

/**
 * @param {object} ui the pane's elements
 * @param {(text: string, kind?: string) => void} note writes to the timeline
 */
export function createWallet(ui, note) {
  const IDLE = ui.idleText.textContent;
  /** The launch in progress: `{ resolve, prepayId }`. */
  let open = null;

  /** Ends the open launch with `result`; `keepFrame` leaves the wallet's result page in view. */
  function settle(result, why, keepFrame = false) {
    if (!open) return;
    const { resolve } = open;
    open = null;
    ui.close.disabled = true;
    ui.decline.disabled = true;
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

  /** The guard's `launch(prepay, { orderNo, attemptId })`. */
  function launch(prepay, context) {
    settle('cancelled', 'another payment was launched'); // at most one open wallet
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

  return { launch, reset, isOpen: () => open !== null };
}
