// The package's declarations, for every entry: node.cjs's own (the `node` condition) and, through
// ./index.d.ts, the ES-module entries'. One file in CommonJS form, because an ES-module
// declaration file may re-export a CommonJS one in every TypeScript resolution mode but not the
// other way round; a copy for node.cjs would weigh 6 KB packed (issue 13).

/**
 * checkout-guard: stops a shopper from ever starting a second payment for one order.
 *
 * Every error the package throws or rejects with is a {@link CheckoutGuardError}: branch on its
 * `code`, which is stable; the message is for people and may change.
 */

/** The stable `code` of a {@link CheckoutGuardError}. */
export type ErrorCode =
  /** Constructor options are unknown, of the wrong type or impossible; the message names the option. */
  | 'invalid_options'
  /** The order cannot be paid as given, e.g. its content holds NaN, Infinity, undefined, a function, a BigInt or a cycle. */
  | 'invalid_order'
  /** A payment for this order with other content is in progress, or `forget` while it runs. */
  | 'busy'
  /** The server's reply breaks the contract (docs/contract.md). */
  | 'server_contract'
  /** The server refused the request for good (400, 404, fingerprint mismatch). */
  | 'server_rejected'
  /** No HTTP reply: offline, DNS, CORS or time-out. */
  | 'network'
  /** The storage cannot be used at all. */
  | 'storage'
  /** A platform API the guard needs is missing (e.g. `crypto.getRandomValues`). */
  | 'platform';

/** What the package throws: a plain `Error` with `name` "CheckoutGuardError" and a `code`. */
export interface CheckoutGuardError extends Error {
  name: 'CheckoutGuardError';
  code: ErrorCode;
}

/**
 * `error instanceof CheckoutGuardError` is true for the guard's errors (recognised by shape, so
 * also across two copies of the package) and narrows `error.code`. Not constructible.
 */
export declare const CheckoutGuardError: {
  readonly prototype: CheckoutGuardError;
  [Symbol.hasInstance](value: unknown): value is CheckoutGuardError;
};

/** Whether `value` is an error thrown or rejected by checkout-guard (narrows `value.code`). */
export function isCheckoutGuardError(value: unknown): value is CheckoutGuardError;

/** A value JSON can represent exactly. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * An order's content: any object or array whose values JSON can represent (interfaces and
 * classes are fine; a `Date` passes through its `toJSON`). What JSON cannot say (NaN,
 * `undefined`, functions, BigInt, cycles) is refused at run time with `invalid_order`, naming
 * the path.
 */
export type Content = object;

/**
 * RFC 8785 (JCS) canonical JSON of `value`: members sorted by UTF-16 code units, numbers as
 * ECMAScript prints them. `toJSON` is honoured (a `Date` becomes its ISO string).
 *
 * @throws {CheckoutGuardError} `invalid_order` for NaN, ±Infinity, `undefined`, functions,
 *   symbols, BigInt, strings with lone surrogates, cycles, or nesting deeper than 64 levels;
 *   the message names where (`order.items[2].price is NaN, …`).
 */
export function canonicalize(value: unknown): string;

/**
 * The order's fingerprint: lowercase hex SHA-256 of {@link canonicalize}`(value)`. A merchant
 * backend recomputes it with any JCS library (e.g. the npm `canonicalize` package) + SHA-256.
 *
 * @throws {CheckoutGuardError} `invalid_order`, as {@link canonicalize}.
 */
export function fingerprint(value: unknown): string;

/** What {@link init} accepts: where the wasm is, its bytes, or a compiled module. */
export type InitInput =
  | RequestInfo
  | URL
  | Response
  | BufferSource
  | WebAssembly.Module
  | Promise<RequestInfo | URL | Response | BufferSource | WebAssembly.Module>;

/**
 * Loads the wasm, once (later calls return the same promise). Optional: the wasm loads itself
 * on first use (the first guard made, which is usable at once; in Node, synchronously), but
 * {@link canonicalize} and {@link fingerprint} are synchronous and throw a `platform` error
 * while it is not loaded yet in a browser or an edge runtime. Without `module_or_path` it is
 * the package's `checkout_guard_bg.wasm` (in browsers fetched through `import.meta.url`, in
 * Node read from disk); give it a URL (a classic `<script>` has no `import.meta.url`), a
 * `Response`, bytes or a compiled module (an edge runtime that cannot fetch its own files).
 */
export function init(options?: { module_or_path?: InitInput }): Promise<void>;

/** {@link init}, synchronously, from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): void;

/** How a payment ended, as far as this page can tell. */
export type OutcomeStatus =
  /** The server said paid. Final for the order. */
  | 'paid'
  /** The buyer cancelled in the wallet; paying again reuses the same attempt. */
  | 'cancelled'
  /** The attempt failed or was closed unpaid; paying again may start a new attempt. */
  | 'failed'
  /**
   * Unknown for now: the attempt may still be paid. Show "check status" and, for reason
   * `wallet_no_reply`, "reopen payment" (`pay` again reopens the same prepay): never a new order.
   */
  | 'pending';

/** Why an outcome is pending, failed or cancelled. */
export type Reason =
  | 'network'
  | 'server_contract'
  | 'server_busy'
  | 'deadline'
  /** Another tab has (or had) the order: its outcome is shown here. */
  | 'other_tab'
  | 'wallet'
  | 'attempt_dead'
  /** Nothing was launched in this page (e.g. a reload during a create): not started yet. */
  | 'not_started'
  /** The wallet never answered; the attempt is still unpaid at the server. */
  | 'wallet_no_reply';

/** What `pay()` resolves with and `outcome` events carry. */
export interface Outcome {
  orderNo: string;
  status: OutcomeStatus;
  /** The merchant payment number at the provider, when known. */
  attemptId: string | null;
  /** The stored or live prepay was reused instead of creating one. */
  reused: boolean;
  reason: Reason | null;
}

/** What `submit()` resolves with: the business order of this submission. */
export interface Submitted {
  orderNo: string;
  /** Fingerprint of the submitted content: pay the order with the same content. */
  fingerprint: string;
  /** An order made before for this submission (a double submit, a reload, a relaunch). */
  reused: boolean;
  /** When the server's de-duplication window ends (server clock, ms), if it said. */
  expiresAt: number | null;
}

/** An order to pay: its number (fixed for its whole life) and the content the buyer agreed to. */
export interface Order {
  orderNo: string;
  /** Fingerprinted (RFC 8785 + SHA-256); the server must hash its own copy the same way. */
  content: Content;
}

/** What `launch` is told besides the prepay. */
export interface LaunchContext {
  orderNo: string;
  attemptId: string;
  /** What `prepare(order)` returned for this payment, if that option is set. */
  prepared?: unknown;
}

/** What `launch` settles with. Anything else, or a throw, counts as `'failed'`. */
export type LaunchResult = 'ok' | 'cancelled' | 'failed';

/**
 * What `launch` returns: a result, or a promise of one. (The promise's type admits any string
 * so that `async () => 'ok'` compiles under `strict`, where TypeScript widens an async
 * function's literal returns; at run time any other string is `'failed'`.)
 */
export type LaunchReturn = LaunchResult | PromiseLike<LaunchResult | (string & {})>;

/** A `Storage`-like object: `localStorage`, `sessionStorage`, or your own adapter. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Status polling (all times in ms). */
export interface PollOptions {
  /** Offsets of the fast first checks from the start, ascending. Default [0, 1000, 2000, 3000]. */
  fastMs?: number[];
  /** First backoff step after the fast checks. Default 2000. */
  baseMs?: number;
  /** Largest backoff step. Default 30000. */
  capMs?: number;
  /** Smallest delay between two backoff queries. Default 1000. */
  floorMs?: number;
  /** Longest the polling may go on. Default 600000. */
  maxDurationMs?: number;
  /** Time after the prepay's expiry during which a late notify may still arrive. Default 60000. */
  expiryGraceMs?: number;
  /** Most queries in one run. Default 60. */
  maxQueries?: number;
  /** `Prefer: wait=N` seconds for each query (≤ 25); 0 turns long-polling off. Default 20. */
  longPollSecs?: number;
}

/** `new CheckoutGuard(options)`. Unknown keys and impossible values throw `invalid_options`. */
export interface CheckoutGuardOptions {
  /**
   * Starts the payment UI (QR code, JSAPI, redirect…) with the provider's parameters and
   * settles when the buyer is done there.
   */
  launch(prepay: Record<string, Json>, context: LaunchContext): LaunchReturn;
  /**
   * Called synchronously when a payment starts, inside the click's user activation (by
   * `attach`'s handler, or by `pay` called from yours), never for a click that joins a payment
   * in flight. What it returns (e.g. `window.open('', 'pay')`, a sheet) reaches `launch` as
   * `context.prepared`, which runs after the server's replies, outside the activation, where
   * a popup would be blocked.
   */
  prepare?(order: Order): unknown;
  /** Gets `prepare`'s value when the payment ended without `launch` taking it (paid, pending, refused). */
  dismiss?(prepared: unknown): void;
  /** Part of every storage key and channel name. Default 'default'. */
  namespace?: string;
  /** Whose records these are, e.g. a hash of the buyer's id: one buyer never sees another's. Default 'default'. */
  scope?: string;
  /** URL templates with `{orderNo}`. Defaults: '/api/orders/{orderNo}/payments' and '/api/orders/{orderNo}/payment'. */
  /**
   * URL templates: `create` and `status` contain `{orderNo}`; `submit` (for `submit()`) is a
   * plain URL. Defaults: `/api/orders/{orderNo}/payments`, `/api/orders/{orderNo}/payment`,
   * `/api/orders`.
   */
  endpoints?: { create?: string; status?: string; submit?: string };
  /** Where records live. Default 'local' (localStorage, memory with a `storage` event when it fails). */
  storage?: 'local' | 'memory' | StorageLike;
  /** Your own `fetch(url, init)` (a mini-program adapter, a test double). Default: the global `fetch`. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * Headers added to every request: a buyer token the payment center asks for
   * (`Authorization: Bearer …`), fixed, or a function called for each request (a token that is
   * refreshed). The guard's own (`Idempotency-Key`, `Prefer`, `Content-Type`, `Accept`) cannot
   * be replaced; a function that throws makes that request fail like a lost reply (the same
   * key is sent again later, never a new one).
   */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** Time-out of one request, long-poll wait excluded. Default 15000. */
  requestTimeoutMs?: number;
  /** How long a prepay is reused when the server gave no `expiresAt`. Default 300000. */
  prepayTtlMs?: number;
  /** A prepay this close to its expiry is not launched. Default 30000. */
  expiryMarginMs?: number;
  /** How often a create is re-sent with the same key before the outcome is pending. Default 4. */
  createRetries?: number;
  /** First delay before re-sending a create; doubles, capped at 30 s. Default 1000. */
  createRetryMs?: number;
  /** How often to try for the cross-tab lock while another tab holds it. Default 2000. */
  lockRetryMs?: number;
  /** How long to wait for another tab before the outcome is pending. Default 600000. */
  lockWaitMs?: number;
  /** Kept for compatibility: stored records are always confirmed by the server now. Default 60000. */
  clockSkewMs?: number;
  /**
   * How long the wallet (`launch`) may stay silent before the guard asks the server and, if the
   * attempt is still unpaid, ends the call `pending` (reason `wallet_no_reply`): the buyer can
   * then reopen the same prepay (`pay` again) or check the status. Default 90000.
   */
  launchTimeoutMs?: number;
  poll?: PollOptions;
}

/** Events: every one has a `type`; `'state'` listeners get them all (but `'error'`). */
/** The server's status words (`statusSeen`). */
export type ServerStatus = 'none' | 'unpaid' | 'paying' | 'paid' | 'closed' | 'failed';

/** The stored record's states (`recordLoaded`). */
export type RecordState = 'creating' | 'ready' | 'launched' | 'paid' | 'dead';

/** Every event, by `type` (docs/events.md). `'state'` listeners get them all. */
export type GuardEvent =
  | { type: 'locked'; orderNo: string }
  | { type: 'waitingForOtherTab'; orderNo: string }
  | { type: 'recordLoaded'; orderNo: string; state: RecordState | null }
  | { type: 'recordRejected'; orderNo: string; error: string }
  | { type: 'recordMismatch'; orderNo: string; stored: string | null; server: string }
  | { type: 'createSent'; orderNo: string; key: string; newKey: boolean; tryNo: number }
  | { type: 'prepayReused'; orderNo: string; attemptId: string }
  | { type: 'launchStarted'; orderNo: string; attemptId: string }
  | { type: 'statusQuery'; orderNo: string; tryNo: number; delayMs: number }
  | { type: 'statusSeen'; orderNo: string; status: ServerStatus }
  | { type: 'retrying'; orderNo: string; afterMs: number; reason: Reason }
  | { type: 'clockJumped'; backMs: number }
  | { type: 'serverClock'; offsetMs: number; jumpMs: number }
  | ({ type: 'outcome' } & Outcome)
  | { type: 'submitSent'; fingerprint: string; key: string; newKey: boolean; tryNo: number }
  | { type: 'submissionRejected'; fingerprint: string; error: string }
  | ({ type: 'submitted' } & Submitted)
  | { type: 'storage'; message: string };

/** The `type` of a {@link GuardEvent}. */
export type GuardEventType = GuardEvent['type'];

/**
 * Guards every order of one page: a buyer can never start a second payment for an order,
 * from this page, a reload or another tab.
 */
export class CheckoutGuard {
  constructor(options: CheckoutGuardOptions);
  /**
   * Pays the order at most once; a second call for the same order joins the first.
   *
   * While a call is in flight, calling again with **the very same order object** (the double
   * click) returns the very same promise at once, in plain JS, without reading the content
   * again: about the cost of a `Map` look-up. So do not mutate an order object while its
   * payment runs; pass a new object for new content. Any other object goes to the guard, which
   * fingerprints its content and joins the payment in flight when the content is the same (a
   * new promise settling with the same outcome), or rejects with `busy` when it differs. Once
   * the call settles, or the order's `outcome` event is emitted (an `outcome` listener that
   * pays again starts a new payment), the next call goes to the guard again.
   */
  pay(order: Order): Promise<Outcome>;
  /**
   * Submits the order form once: creates the business order for `content` on the server
   * (`POST endpoints.submit` with an `Idempotency-Key` minted and stored before sending) and
   * resolves with its number. The same content gets the same order within the server's window,
   * across double taps, reloads, tabs and relaunches; concurrent calls join. Only the content's
   * fingerprint and the key are stored, never the content. Rejects with `server_rejected`
   * (a 4xx: the stored key is dropped) or `network` (no answer after retries: the key stays
   * stored, so submitting again cannot make a second order).
   */
  submit(content: Content): Promise<Submitted>;
  /**
   * Locks `element` synchronously on click (and Enter / Space on non-buttons) and pays
   * `getOrder()`. Failures go to `'error'` listeners. Returns a function that detaches. An
   * attached element keeps its guard alive until it is detached, so a guard held only by its
   * button keeps working; a payment in flight also keeps its guard alive until it settles.
   * `getOrder()` is also called (outside a click) when another tab reports an outcome for an
   * order this tab never paid, to find the button that shows it: keep it a cheap getter.
   */
  attach(element: Element, getOrder: () => Order): () => void;
  /**
   * Finds out what became of an order paid from an earlier page (never launches, never creates);
   * the result is always an `outcome` event: `paid`, `cancelled` (not paid; paying again may
   * reuse the prepay), `failed` (the attempt is dead) or `pending` (the server could not say).
   */
  resume(orderNo: string): void;
  /** Forgets an order and deletes its record (e.g. the merchant reopened it). Throws `busy` while it runs. */
  forget(orderNo: string): void;
  /** Listens to `'state'` (all events), `'outcome'`, `'storage'`, `'error'` or any event type. Returns an unsubscribe function. */
  on<K extends GuardEventType>(type: K, listener: (event: Extract<GuardEvent, { type: K }>) => void): () => void;
  on(type: 'state', listener: (event: GuardEvent) => void): () => void;
  on(type: 'error', listener: (error: CheckoutGuardError) => void): () => void;
  /** Releases the wasm memory, listeners, timer and channel. */
  free(): void;
}
