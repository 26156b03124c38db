// Deterministic order contents of a given JSON size, shaped like a real cart: nested objects,
// arrays, integers, decimals, non-ASCII text and keys in no particular order.

/** An order's content whose `JSON.stringify` is about `bytes` long (never shorter). */
export function makeContent(bytes) {
  const content = {
    currency: 'CNY',
    buyer: { id: 'u-20931', note: '请在工作日送货 — thanks', vip: true },
    shipping: { city: '上海', line1: '1 Example Road', zip: '200000', fee: 12.5 },
    items: [],
    coupon: null,
    amount: 0,
  };
  let i = 0;
  while (JSON.stringify(content).length < bytes) {
    const price = 1999 + ((i * 7919) % 5000) / 100;
    content.items.push({ sku: `SKU-${1000 + i}`, name: `茶叶礼盒 ${i}`, qty: 1 + (i % 3), price, tags: ['tea', i % 2 ? 'gift' : 'sale'] });
    content.amount += price;
    i += 1;
  }
  content.amount = Math.round(content.amount * 100) / 100;
  return content;
}
