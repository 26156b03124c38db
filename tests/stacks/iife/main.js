import * as lib from 'checkout-guard';
import { checkout } from './checkout.js';

// A classic script has no `import.meta.url`: say where the wasm is (copied beside app.js).
lib.init({ module_or_path: new URL('checkout_guard_bg.wasm', document.baseURI) });
checkout(lib);
