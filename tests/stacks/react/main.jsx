// checkout-guard/react in StrictMode: the hook owns the guard (StrictMode mounts, unmounts and
// mounts it again in dev: still one guard), `PayButton` renders busy and paid through React.
// "Close" unmounts the checkout: its guard is freed.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { PayButton, useCheckoutGuard } from 'checkout-guard/react';
import { content, options, seen } from './wallet.js';

function Checkout() {
  const checkout = useCheckoutGuard(options);
  const [order, setOrder] = useState(null);
  const { guard, outcome, error } = checkout;

  useEffect(() => {
    seen.mounts += 1;
  }, []);
  useEffect(() => {
    if (!guard) return;
    let live = true;
    // The same content is the same order, also when StrictMode runs this twice.
    guard.submit(content).then(({ orderNo }) => live && setOrder({ orderNo, content }));
    return () => {
      live = false;
    };
  }, [guard]);
  useEffect(() => {
    if (outcome) seen.outcomes.push(outcome);
  }, [outcome]);
  useEffect(() => {
    if (error) seen.errors.push(`${error.code}: ${error.message}`);
  }, [error]);

  const status = outcome?.status ?? (order ? 'ready' : 'loading');
  return (
    <>
      <p>Order <span id="order-no">{order?.orderNo ?? '…'}</span></p>
      {order ? <PayButton id="pay" checkout={checkout} order={order} /> : <button type="button" disabled>Pay</button>}
      <p id="outcome" role="status" data-status={status}>{status}</p>
    </>
  );
}

function App() {
  const [open, setOpen] = useState(true);
  return (
    <main>
      {open && <Checkout />}
      <button id="close" type="button" onClick={() => setOpen(false)}>Close</button>
    </main>
  );
}

createRoot(document.querySelector('#root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
