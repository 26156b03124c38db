// What the Node and edge stacks do with the package (copied beside their sources as `pay.cjs`):
// submit one order to the reference backend (`API` in the environment), then pay it twenty
// times at once with one guard (memory storage): one create, one launch, twenty outcomes.
const assert = require('node:assert/strict');

module.exports = async function payMany(lib) {
  const api = process.env.API;
  const content = { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] };
  const launches = [];
  const guard = new lib.CheckoutGuard({
    namespace: 'stacks',
    storage: 'memory',
    endpoints: {
      create: `${api}/api/orders/{orderNo}/payments`,
      status: `${api}/api/orders/{orderNo}/payment`,
      submit: `${api}/api/orders`,
    },
    launch: async (prepay, context) => {
      launches.push(context.orderNo);
      return 'cancelled';
    },
  });
  const { orderNo, fingerprint } = await guard.submit(content);
  assert.equal(fingerprint, lib.fingerprint(content));
  const order = { orderNo, content };
  const outcomes = await Promise.all(Array.from({ length: 20 }, () => guard.pay({ ...order })));
  assert.deepEqual(new Set(outcomes.map((outcome) => outcome.status)), new Set(['cancelled']));
  assert.deepEqual(launches, [orderNo]);
  guard.free();
  return orderNo;
};
