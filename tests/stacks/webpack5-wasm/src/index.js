// `checkout-guard/bundler`: the wasm imported as a module (webpack's `asyncWebAssembly`).
import * as lib from 'checkout-guard/bundler';
import { checkout } from '../checkout.js';

checkout(lib);
