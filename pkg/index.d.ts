// The types of the package's ES-module entries (index.js, and web.js and bundler.js through
// ./web.d.ts, ./bundler.d.ts): the same declarations as node.cjs's, in ./types.d.cts.
export * from './types.cjs';
