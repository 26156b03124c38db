// checkout-guard for WeChat mini-programs (`require('checkout-guard')` after DevTools' "build npm").

export interface Outcome {
  status: 'paid' | 'cancelled' | 'failed' | 'pending';
  orderNo: string;
  attemptId: string | null;
  reused: boolean;
  reason: string | null;
}

export interface Order {
  orderNo: string;
  /** The order content the buyer agreed to (its fingerprint is sent to the server). */
  content: object;
}

export interface RecordStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Reply {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface CreateGuardOptions {
  /** The merchant backend: `${baseUrl}/api/orders/{orderNo}/payments`, `/payment` and `/api/orders` (submit). */
  baseUrl?: string;
  endpoints?: { create?: string; status?: string; submit?: string };
  namespace?: string;
  /** One buyer's records apart from another's (e.g. the user id). */
  scope?: string;
  requestTimeoutMs?: number;
  /** Headers added to every request (a buyer token), fixed or computed per request. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** `wx.requestPayment` parameters from a prepay; default: the signed fields of the prepay. */
  paymentParams?: (prepay: Record<string, unknown>, context: { orderNo: string; attemptId: string }) => object;
  /** Replaces the `wx.requestPayment` adapter. */
  launch?: (prepay: Record<string, unknown>, context: { orderNo: string; attemptId: string }) => Promise<'ok' | 'cancelled' | 'failed'>;
  /** Replaces the `wx.*StorageSync` adapter; `'memory'` keeps records in memory only. */
  storage?: RecordStorage | 'memory';
  /** Replaces the `wx.request` adapter. */
  request?: (url: string, init: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number }) => Promise<Reply>;
  /** Call `pageShown()` on every `wx.onAppShow` (default true). */
  resumeOnShow?: boolean;
  /** The object the default adapters call instead of `wx` (same shapes: uni-app's `uni`, Taro's `Taro`). */
  platform?: object;
  /** The core's tuning (poll, prepayTtlMs, …), as for the browser's CheckoutGuard. */
  [tuning: string]: unknown;
}

/** What `submit()` resolves with: the business order of this submission. */
export interface Submitted {
  orderNo: string;
  fingerprint: string;
  /** An order made before for this submission (a double tap, a relaunch). */
  reused: boolean;
  expiresAt: number | null;
}

/** The guard (`createGuard()`'s, or `new loaded.MiniProgramGuard(options)`): the module itself exports no class, only `load`. */
declare class MiniProgramGuard {
  pay(order: Order): Promise<Outcome>;
  /** Creates the business order once per submission: the same order for the same content within the server's de-duplication period, across relaunches. */
  submit(content: object): Promise<Submitted>;
  resume(orderNo: string): void;
  forget(orderNo: string): void;
  on(type: string, listener: (event: { type: string; [key: string]: unknown }) => void): () => void;
  pageShown(): void;
  /** Stops listening to `wx.onAppShow` and frees the guard (guards from `createGuard`). */
  close(): void;
  free(): void;
}

export interface PageLike {
  data: Record<string, unknown>;
  setData(data: Record<string, unknown>): void;
}

export interface Loaded {
  createGuard(options?: CreateGuardOptions): MiniProgramGuard;
  bindPay(
    page: PageLike,
    options: {
      guard: MiniProgramGuard | Promise<MiniProgramGuard>;
      getOrder: () => Order;
      flag?: string;
      onOutcome?: (outcome: Outcome) => void;
      onError?: (error: CheckoutGuardError) => void;
    },
  ): () => Promise<Outcome | null> | null;
  fingerprint(value: unknown): string;
  canonicalize(value: unknown): string;
  MiniProgramGuard: typeof MiniProgramGuard;
}

export interface LoadOptions {
  /** The wasm's path from the code package root; default {@link DEFAULT_WASM_PATH}. */
  wasmPath?: string;
  wx?: unknown;
  WXWebAssembly?: unknown;
}

export declare function load(options?: LoadOptions): Promise<Loaded>;
/** Mixes at least 32 more bytes of platform entropy into the guards' seed pool (`load()` and every `wx.onAppShow` already do); fewer throw a `platform` error. */
export declare function addEntropy(bytes: Uint8Array): void;
/** `/miniprogram_npm/checkout-guard-miniprogram/checkout_guard_bg.wasm.br`: where DevTools' "build npm" puts the wasm. */
export declare const DEFAULT_WASM_PATH: string;

export type { MiniProgramGuard };

/** The stable `code` of a {@link CheckoutGuardError} (the same codes as the npm package's). */
export type ErrorCode =
  | 'invalid_options'
  | 'invalid_order'
  | 'busy'
  | 'server_contract'
  | 'server_rejected'
  | 'network'
  | 'storage'
  | 'platform';

/** What the guard throws or rejects with: a plain `Error` with `name` "CheckoutGuardError" and a stable `code`. */
export interface CheckoutGuardError extends Error {
  name: 'CheckoutGuardError';
  code: ErrorCode;
}

/** Whether `value` is an error of checkout-guard (recognised by shape); narrows `code`. */
export declare function isCheckoutGuardError(value: unknown): value is CheckoutGuardError;
