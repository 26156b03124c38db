// The hand-written layer shared by every entry point (index.js, web.js, bundler.js, node.cjs):
// two fast paths in plain JS around the generated glue, each exact (it answers only when the
// wasm would answer the same, and otherwise lets the wasm decide). It decides nothing itself:
// no single-flight, button locking or error mapping of its own.
//
// 1. `canonicalText(value)`: RFC 8785 canonical JSON built by the JS engine, which is the
//    reference for every JCS rule (numbers are `String(x)`, strings `JSON.stringify(s)`, member
//    names sorted by UTF-16 code units, as `<` and `sort()` compare). It reads the value as the
//    guard's walk does (src/wasm/order.rs: `toJSON(key)` first, own enumerable keys, array
//    items by index) and declines, returning `undefined`, on everything the walk refuses or
//    might read differently: NaN, ±Infinity, undefined, functions, symbols, BigInt, lone
//    surrogates (in values or names), objects that are neither plain objects nor plain arrays
//    (boxed primitives, class instances, Maps…), nesting at the walk's depth limit (cycles), or
//    a throw. The wasm then walks the value, decides, and names the path in its error. Walking
//    a JS object from wasm costs boundary crossings per value; this costs one per call.
// 2. `pay(order)` while that very order object is in flight returns the promise already in
//    flight, read from the wasm's own table of calls in flight, without crossing into wasm or
//    reading the content again: the double click costs a Map look-up. Anything else (another
//    object, even with equal content) goes to the wasm, which fingerprints it and joins the
//    payment or refuses with `busy`.

const OBJECT = Object.prototype;
const ARRAY = Array.prototype;
/** `MAX_DEPTH` of src/core/fingerprint.rs: the walk refuses a container this deep. */
const MAX_DEPTH = 64;
/** Anything `JSON.stringify` escapes, and surrogates (declined when lone). */
const SPECIAL = /["\\\u0000-\u001f\uD800-\uDFFF]/;

/** Thrown (and caught in `canonicalText`) to let the wasm walk decide. */
const DECLINE = {};

function quote(s) {
  if (!SPECIAL.test(s)) return '"' + s + '"';
  if (typeof s.isWellFormed === 'function' ? !s.isWellFormed() : /[\uD800-\uDFFF]/.test(s)) throw DECLINE;
  return JSON.stringify(s);
}

/** Member names in UTF-16 code unit order (`<` on strings); insertion sort for the usual few. */
function sortNames(names) {
  if (names.length > 12) return names.sort();
  for (let i = 1; i < names.length; i++) {
    const name = names[i];
    let j = i - 1;
    while (j >= 0 && names[j] > name) {
      names[j + 1] = names[j];
      j -= 1;
    }
    names[j + 1] = name;
  }
  return names;
}

function text(value, key, depth) {
  if (typeof value === 'object' && value !== null) {
    const toJSON = value.toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      // NaN and ±Infinity: x - x is NaN.
      if (value - value !== 0) throw DECLINE;
      return '' + value;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) throw DECLINE;
      const proto = Object.getPrototypeOf(value);
      if (proto === ARRAY && Array.isArray(value)) {
        const length = value.length;
        let out = '[';
        for (let i = 0; i < length; i++) {
          if (i > 0) out += ',';
          out += text(value[i], i, depth + 1);
        }
        return out + ']';
      }
      if (proto !== OBJECT && proto !== null) throw DECLINE;
      const names = sortNames(Object.keys(value));
      let out = '{';
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        if (i > 0) out += ',';
        out += quote(name) + ':' + text(value[name], name, depth + 1);
      }
      return out + '}';
    }
    default:
      throw DECLINE;
  }
}

/** RFC 8785 canonical JSON of `value` exactly as the guard computes it, or `undefined`. */
export function canonicalText(value) {
  try {
    return text(value, '', 0);
  } catch {
    return undefined;
  }
}

/**
 * `Base` (the generated `CheckoutGuard`) with the double click answered in JS. The wasm keeps
 * the calls in flight in a `Map` of its own (`__flights()`: orderNo → [order, content, promise])
 * and decides alone when each starts and ends (src/wasm/driver.rs); this only reads it: `pay()`
 * with the very order object in flight, its content unchanged, gets the promise in flight
 * without crossing into wasm. Anything else goes to the wasm.
 */
export function withFlights(Base) {
  return class CheckoutGuard extends Base {
    #flights = super.__flights();

    pay(order) {
      const flight = typeof order === 'object' && order !== null ? this.#flights.get(order.orderNo) : undefined;
      return flight !== undefined && flight[0] === order && flight[1] === order.content ? flight[2] : super.pay(order);
    }
  };
}

/** The public API over one generated glue module; `install()` once its wasm is ready. */
export function wrap(glue) {
  let ready = false;
  return {
    CheckoutGuard: withFlights(glue.CheckoutGuard),
    canonicalize(value) {
      const canonical = ready ? canonicalText(value) : undefined;
      return canonical === undefined ? glue.canonicalize(value) : canonical;
    },
    fingerprint(value) {
      const canonical = ready ? canonicalText(value) : undefined;
      return canonical === undefined ? glue.fingerprint(value) : glue.__sha256Hex(canonical);
    },
    install() {
      glue.__setJsonText(canonicalText);
      ready = true;
    },
  };
}
