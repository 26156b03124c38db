// A CommonJS test under Jest, whose own `require` loads the package's `node` + `require` entry
// (node.cjs, which must therefore stay CommonJS all the way down: Jest cannot require an ES
// module). The same payment as the Node stack: twenty pays at once, one create.
const lib = require('checkout-guard');
const payMany = require('./pay.cjs');

test('a Jest test pays one order once', async () => {
  expect(lib.fingerprint({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  const orderNo = await payMany(lib);
  // Read by the stacks suite from Jest's output.
  console.log(`order ${orderNo}: ${require.resolve('checkout-guard')}`);
});
