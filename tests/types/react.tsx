// What a merchant's React + TypeScript (strict, nodenext, react-jsx) writes with
// checkout-guard/react; the last lines must be refused.
import { useState } from 'react';
import { PayButton, useCheckoutGuard, type CheckoutGuardState } from '../../pkg/react.js';
import type { Order, Outcome } from '../../pkg/index.js';

export function Checkout({ order }: { order: Order }) {
  const [shown, setShown] = useState('');
  const checkout: CheckoutGuardState = useCheckoutGuard({
    namespace: 'shop',
    launch: async (prepay) => (prepay.codeUrl ? 'ok' : 'cancelled'),
  });
  const outcome: Outcome | null = checkout.outcome;
  const code = checkout.error?.code;
  const busy: boolean = checkout.busy || checkout.of(order.orderNo).busy;
  void checkout.guard?.resume(order.orderNo);
  return (
    <>
      <PayButton checkout={checkout} order={order} className="pay" paidChildren={<b>Paid</b>} />
      <PayButton checkout={checkout} order={() => order} onClick={(event) => event.preventDefault()}>
        Pay {busy ? '…' : ''}
      </PayButton>
      <button type="button" onClick={() => checkout.pay(order).then((o) => setShown(o.status))}>
        {shown} {outcome?.status} {code}
      </button>
      {/* @ts-expect-error PayButton needs the hook's state */}
      <PayButton order={order} />
      {/* @ts-expect-error an order has a number */}
      <PayButton checkout={checkout} order={{ content: {} }} />
    </>
  );
}

// @ts-expect-error the hook needs a launch
useCheckoutGuard({});
