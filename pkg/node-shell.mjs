// What pkg/node.cjs needs of the package's ES modules, which it requires as they are (Node
// ^20.19 or >= 22.12): the API of ./shell.js over the web target's glue (the same glue and wasm
// as the browser entry's), and the errors. Only `initSync` of the glue's loaders is used:
// node.cjs reads the wasm from disk itself.
import { Core, initSync, sha256Hex } from './gen/web/checkout_guard.js';
import { wrap } from './shell.js';

export const api = wrap({ Core, sha256Hex });
export { initSync };
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
