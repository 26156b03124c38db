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

/** A value JSON can represent exactly: what an order's content must be. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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
