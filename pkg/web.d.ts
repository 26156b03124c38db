export * from './index.js';

/** What {@link init} accepts: where the wasm is, its bytes, or a compiled module. */
export type InitInput =
  | RequestInfo
  | URL
  | Response
  | BufferSource
  | WebAssembly.Module
  | Promise<RequestInfo | URL | Response | BufferSource | WebAssembly.Module>;

/**
 * Instantiates the wasm; call once before anything else. Without `module_or_path` it fetches
 * `checkout_guard_bg.wasm` next to the glue (also exported as `checkout-guard/checkout_guard_bg.wasm`).
 */
export default function init(options?: { module_or_path?: InitInput }): Promise<unknown>;

/** Synchronous {@link init} from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): unknown;
