'use client';
// A client component paying: rendered on the server too (the package imported there loads
// nothing), guarded in the browser.
import { useEffect } from 'react';
import * as lib from 'checkout-guard';
import { checkout } from '../checkout.js';

/** The route handler's fingerprint of the same content (app/fingerprint/route.js). */
async function serverFingerprint(content) {
  const reply = await fetch('/fingerprint', { method: 'POST', body: JSON.stringify(content) });
  return (await reply.json()).fingerprint;
}

export default function Pay() {
  useEffect(() => {
    checkout(lib, { serverFingerprint });
  }, []);
  return (
    <>
      <p>Order <span id="order-no">…</span></p>
      <button id="pay" type="button">Pay</button>
      <p id="outcome" role="status" data-status="loading">loading</p>
    </>
  );
}
