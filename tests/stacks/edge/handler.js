// An edge function's module, bundled as an edge runtime resolves packages (`edge-light`,
// `worker`, `browser`; never `node`): the package's root entry, where there is no DOM.
export * as lib from 'checkout-guard';
