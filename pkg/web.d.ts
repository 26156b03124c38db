export * from './index.js';
import type { InitInput } from './index.js';

/**
 * Instantiates the wasm; call once before anything else. Without `module_or_path` it fetches
 * the package's `checkout_guard_bg.wasm` (also exported as `checkout-guard/checkout_guard_bg.wasm`).
 */
export default function init(options?: { module_or_path?: InitInput }): Promise<unknown>;

/** Synchronous {@link init} from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): unknown;
