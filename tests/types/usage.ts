// What a merchant's TypeScript (strict, nodenext) writes: all of it must compile
// (`cargo xtask ci` runs `tsc -p tests/types`).
import {
  CheckoutGuard,
  CheckoutGuardError,
  fingerprint,
  isCheckoutGuardError,
  type ErrorCode,
  type GuardEvent,
  type Outcome,
} from '../../pkg/index.js';

// The README's own launch: async, returning literals.
const guard = new CheckoutGuard({
  namespace: 'shop',
  scope: 'user-7f3a',
  launch: async (prepay, { orderNo, attemptId }) => {
    if (!orderNo || !attemptId || !prepay) return 'failed';
    return 'ok';
  },
  launchTimeoutMs: 60_000,
});
new CheckoutGuard({ launch: () => 'cancelled' });
new CheckoutGuard({ launch: () => new Promise<'ok'>((done) => done('ok')) });

// Content typed as an interface, with a Date: both pass.
interface CartLine {
  sku: string;
  qty: number;
}
interface Cart {
  cart: string;
  items: CartLine[];
  amount: number;
  placedAt: Date;
}
const cart: Cart = { cart: 'c-1', items: [{ sku: 'tea', qty: 2 }], amount: 3998, placedAt: new Date() };
const print: string = fingerprint(cart);

async function checkout(): Promise<Outcome | null> {
  const { orderNo, reused } = await guard.submit(cart);
  const again: boolean = reused;
  try {
    return await guard.pay({ orderNo, content: cart });
  } catch (error) {
    if (error instanceof CheckoutGuardError) {
      const code: ErrorCode = error.code;
      if (code === 'busy' || again) return null;
    }
    if (isCheckoutGuardError(error) && error.code === 'server_rejected') return null;
    throw error;
  }
}

// Events narrow by `type`.
guard.on('state', (event: GuardEvent) => {
  if (event.type === 'outcome') {
    const status: 'paid' | 'cancelled' | 'failed' | 'pending' = event.status;
    void status;
  } else if (event.type === 'retrying') {
    const after: number = event.afterMs;
    void after;
  } else if (event.type === 'submitted') {
    const no: string = event.orderNo;
    void no;
  }
});
guard.on('outcome', (event) => {
  const attempt: string | null = event.attemptId;
  void attempt;
});
guard.on('serverClock', (event) => {
  const offset: number = event.offsetMs;
  void offset;
});
guard.on('error', (error) => {
  const code: ErrorCode = error.code;
  void code;
});

void checkout;
void print;
