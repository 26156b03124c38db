// The core's binding: the wasm's exports (src/wasm/step.rs, a small ABI of its own) as the `Core`
// class and `sha256Hex` that ./guard.js and ./shell.js use, for every build (the browser,
// bundler and Node entries, and the mini-program bundle, which bundles it into its driver).
// Hand-written instead of wasm-bindgen's glue (issue 13): 3.1 KB brotli less wasm and 5 KB less
// minified JS. It fetches nothing and names no platform global but the text codecs, which
// `bind` takes from its caller; finding and instantiating the wasm is ./load.js's (browsers,
// Node) or the mini-program loader's.
//
// Texts go in through the wasm's input buffer as UTF-8 (each call's texts one after the other,
// their byte lengths as arguments; an absent one is the length 0xFFFFFFFF) and come back as a
// length in bytes of the wasm's output buffer. A call never re-enters the wasm.

/** The length that says "no text" (`undefined`). */
const NONE = -1;
/** At most this many UTF-8 bytes per UTF-16 code unit. */
const MAX_BYTES = 3;

let wasm;
let encoder;
let decoder;
/** Frees the wasm's side of a guard the page dropped without `free()`, where the platform can. */
let finalization;

/**
 * Binds an instantiated wasm's exports. `text` gives the codecs: the platform's own by default,
 * the mini-program's fallback (./text.js) where they are missing.
 */
export function bind(exports, text = { TextEncoder, TextDecoder }) {
  wasm = exports;
  encoder = new text.TextEncoder();
  decoder = new text.TextDecoder('utf-8', { ignoreBOM: true });
  finalization = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((pointer) => wasm.cg_free(pointer)) : undefined;
}

/** Whether a wasm is bound. */
export function bound() {
  return wasm !== undefined;
}

/** The byte length of the second text of the last `put` (no array per call: the click path). */
let nextLength = NONE;

/**
 * Writes `first`, then `next` (strings, or `undefined` for none), then the `extra` bytes (the
 * seed; with no `next`) into the wasm's input buffer: `first`'s byte length, `next`'s left in
 * `nextLength`.
 */
function put(first, next, extra) {
  const start = wasm.cg_input(room(first) + room(next) + (extra ? extra.length : 0));
  // After cg_input, which may have grown the memory (and detached an older view).
  const view = new Uint8Array(wasm.memory.buffer, start);
  const length = write(view, 0, first);
  const at = length === NONE ? 0 : length;
  nextLength = write(view, at, next);
  if (extra) view.set(extra, at);
  return length;
}

/** The most bytes `text` can take as UTF-8. */
function room(text) {
  return text === undefined ? 0 : text.length * MAX_BYTES;
}

/** Writes `text` at `at` of `view`: the bytes written, or `NONE` for no text. */
function write(view, at, text) {
  return text === undefined ? NONE : encoder.encodeInto(text, at ? view.subarray(at) : view).written;
}

/** The text an export answered with: `length` bytes of the output buffer. */
function taken(length) {
  return decoder.decode(new Uint8Array(wasm.memory.buffer, wasm.cg_output(), length));
}

/** One guard's core: the JSON batches of `core::step` (see ./guard.js). */
export class Core {
  #pointer;

  /** Throws the refusal's JSON text, `{"error":{"code","message"}}`, as the core words it. */
  constructor(options, seed) {
    const pointer = wasm.cg_new(put(options, undefined, seed), seed.length);
    if (pointer === 0) throw taken(wasm.cg_output_len());
    this.#pointer = pointer;
    finalization?.register(this, pointer, this);
  }

  /** Gives the wasm's side back; the core is unusable after (a call then traps). */
  free() {
    const pointer = this.#pointer;
    this.#pointer = 0;
    finalization?.unregister(this);
    if (pointer) wasm.cg_free(pointer);
  }

  namespace() {
    return taken(wasm.cg_namespace(this.#pointer));
  }

  scope() {
    return taken(wasm.cg_scope(this.#pointer));
  }

  wouldStart(orderNo) {
    return wasm.cg_would_start(this.#pointer, put(orderNo)) !== 0;
  }

  pay(orderNo, canonical, caller, now) {
    return taken(wasm.cg_pay(this.#pointer, put(orderNo, canonical), nextLength, caller, now));
  }

  submit(canonical, caller, now) {
    return taken(wasm.cg_submit(this.#pointer, put(canonical), caller, now));
  }

  resume(orderNo, now) {
    return taken(wasm.cg_resume(this.#pointer, put(orderNo), now));
  }

  forget(orderNo, now) {
    return taken(wasm.cg_forget(this.#pointer, put(orderNo), now));
  }

  timer(now) {
    return taken(wasm.cg_timer(this.#pointer, now));
  }

  shown(now) {
    return taken(wasm.cg_shown(this.#pointer, now));
  }

  heard(message, now) {
    return taken(wasm.cg_heard(this.#pointer, put(message), now));
  }

  replied(id, status, retryAfter, body, now) {
    const retry = put(retryAfter ?? undefined, body);
    return taken(wasm.cg_replied(this.#pointer, id, status, retry, nextLength, now));
  }

  lost(id, now) {
    return taken(wasm.cg_lost(this.#pointer, id, now));
  }

  stored(id, text, now) {
    return taken(wasm.cg_stored(this.#pointer, id, put(text ?? undefined), now));
  }

  locked(id, acquired, now) {
    return taken(wasm.cg_locked(this.#pointer, id, acquired ? 1 : 0, now));
  }

  launched(id, result, now) {
    return taken(wasm.cg_launched(this.#pointer, id, put(result), now));
  }
}

/** Lowercase hex SHA-256 of `text` (the canonical JSON): a fingerprint. */
export function sha256Hex(text) {
  return taken(wasm.cg_sha256(put(text)));
}
