import * as lib from 'checkout-guard';
import { checkout } from './checkout.js';

const rendered = document.querySelector('#server-fingerprint').textContent;
checkout(lib, { serverFingerprint: () => rendered });
