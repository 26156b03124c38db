// What a merchant's Vue + TypeScript (strict, nodenext) writes with checkout-guard/vue; the
// last lines must be refused.
import { defineComponent, h, withDirectives } from 'vue';
import { useCheckoutGuard, vCheckoutPay, type CheckoutGuardRefs } from '../../pkg/vue.js';
import type { Order, Outcome } from '../../pkg/index.js';

export default defineComponent({
  props: { orderNo: { type: String, required: true } },
  setup(props) {
    const checkout: CheckoutGuardRefs = useCheckoutGuard({ launch: async () => 'ok', scope: 'user-7f3a' });
    const order: Order = { orderNo: props.orderNo, content: { amount: 1999 } };
    const outcome: Outcome | null = checkout.outcome.value;
    const paid: boolean = checkout.paid.value || checkout.of(order.orderNo).paid;
    void checkout.error.value?.code;
    void checkout.pay(order).then((o) => o.status);
    void outcome;
    // @ts-expect-error the refs are read-only
    checkout.busy.value = true;
    return () => withDirectives(h('button', paid ? 'Paid' : 'Pay'), [[vCheckoutPay, { checkout, order }]]);
  },
});
