// The demo server's own endpoints (server/README.md): business orders, admin stats, faults and
// settings. The guard talks to the contract's endpoints by itself; this file is only the page's
// side of the demo.

/** An HTTP error from the demo server, with its status and stable `code`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `fetch` + JSON both ways; throws {@link ApiError} for a non-2xx reply. */
export async function api(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      json?.error ?? 'http_error',
      json?.message ?? `${method} ${path}: HTTP ${response.status}`,
    );
  }
  return json;
}

const enc = encodeURIComponent;

export const orders = {
  create: (content) => api('POST', '/api/orders', { content }),
  get: (orderNo) => api('GET', `/api/orders/${enc(orderNo)}`),
  update: (orderNo, content) => api('PUT', `/api/orders/${enc(orderNo)}`, { content }),
};

export const admin = {
  stats: (orderNo) => api('GET', `/admin/stats/${enc(orderNo)}`),
  /** The order, its attempts (with their states) and more, straight from the database. */
  order: (orderNo) => api('GET', `/admin/orders/${enc(orderNo)}`),
  faults: () => api('GET', '/admin/faults'),
  addFault: (rule) => api('POST', '/admin/faults', rule),
  clearFaults: () => api('DELETE', '/admin/faults'),
  settings: () => api('GET', '/admin/settings'),
  putSettings: (settings) => api('PUT', '/admin/settings', settings),
};

/** The simulated wallet's own buttons, for "decline" (the wallet page has confirm and cancel). */
export const wallet = {
  act: (prepayId, action) => api('POST', `/sim/wallet/${enc(prepayId)}/${enc(action)}`),
};

/** Which provider the demo server runs: `{ provider: 'sim' }` or `{ provider: 'wechatpay', baseUrl }`. */
export const providerInfo = () => api('GET', '/sim/provider');
