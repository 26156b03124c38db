// What the types must refuse: each line below is an error TypeScript reports (and
// `@ts-expect-error` fails the check if it ever stops being one).
import { CheckoutGuard } from '../../pkg/index.js';

// @ts-expect-error launch is required
new CheckoutGuard({});
// @ts-expect-error a sync launch must return a result word
new CheckoutGuard({ launch: () => 'done' });
// @ts-expect-error a launch result is a string
new CheckoutGuard({ launch: async () => 42 });

const guard = new CheckoutGuard({ launch: async () => 'ok' });
// @ts-expect-error content is an object or array
guard.pay({ orderNo: 'A1', content: 42 });
// @ts-expect-error an unknown event type
guard.on('outcomes', () => {});
guard.on('outcome', (event) => {
  // @ts-expect-error an outcome has no afterMs
  void event.afterMs;
});
