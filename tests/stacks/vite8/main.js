import * as lib from 'checkout-guard';
import { checkout } from './checkout.js';

checkout(lib);
