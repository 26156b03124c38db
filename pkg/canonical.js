// RFC 8785 (JCS) canonical JSON of an order's content, built by the JS engine: the reference for
// every JCS rule (numbers are `String(x)`, strings `JSON.stringify(s)`, member names sorted by
// UTF-16 code units, as `<` and `sort()` compare). The core hashes this text (its SHA-256 is
// the order's fingerprint); the Rust canonicalizer (src/core/fingerprint.rs, for the server and
// the native shells) is held to the same bytes by the same RFC 8785 vectors
// (tests/vectors/jcs.json, tests/node/fingerprint.test.mjs, tests/jcs_vectors.rs).
//
// `JSON.stringify` quietly turns `NaN` and `Infinity` into `null` and drops `undefined`
// members, so two different orders could hash the same. The fingerprint must be of exactly what
// the buyer agreed to, so this walk refuses them instead, naming where they are: `NaN`,
// `±Infinity`, `undefined`, functions, symbols, `BigInt`, strings with lone surrogates, cycles
// and nesting deeper than 64 levels. Like `JSON.stringify` it calls `toJSON(key)` (a `Date`
// becomes its ISO string) and reads own enumerable string keys, array items by index.
//
// Two walks, one answer: `canonicalText` is the fast path for plain objects and arrays (no
// path kept, no cycle set), declining with `undefined` on anything else; `canonicalize` runs it
// and, when it declines, walks again keeping the path for the error (and reading objects that
// are not plain, class instances, by their own keys as the fast path would not).
import { guardError } from './errors.js';

const OBJECT = Object.prototype;
const ARRAY = Array.prototype;
/** `MAX_DEPTH` of src/core/fingerprint.rs: the walk refuses a container this deep. */
const MAX_DEPTH = 64;
/** Anything `JSON.stringify` escapes, and surrogates (checked when present). */
const SPECIAL = /["\\\u0000-\u001f\uD800-\uDFFF]/;
const LONE = /[\uD800-\uDFFF]/;

/** Thrown (and caught in `canonicalText`) to let the full walk decide. */
const DECLINE = {};

function wellFormed(s) {
  return typeof s.isWellFormed === 'function' ? s.isWellFormed() : !hasLoneSurrogate(s);
}

function hasLoneSurrogate(s) {
  if (!LONE.test(s)) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      else return true;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function quote(s) {
  if (!SPECIAL.test(s)) return '"' + s + '"';
  if (!wellFormed(s)) throw DECLINE;
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

/**
 * An object's sorted names and each member's `,"name":` head, kept per call by first key:
 * order lines share one shape, so each shape is sorted and quoted once (a third of a 64 KB
 * fingerprint). A hit needs the very same keys in the same order.
 */
function shapeOf(keys, shapes) {
  const first = keys[0];
  const known = shapes.get(first);
  if (known !== undefined && sameKeys(known.keys, keys)) return known;
  const names = sortNames(keys.slice());
  const heads = new Array(names.length);
  for (let i = 0; i < names.length; i++) heads[i] = (i > 0 ? ',' : '') + quote(names[i]) + ':';
  const shape = { keys, names, heads };
  shapes.set(first, shape);
  return shape;
}

function sameKeys(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `shapes`: this call's `shapeOf` cache. */
function text(value, key, depth, shapes) {
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
          out += text(value[i], i, depth + 1, shapes);
        }
        return out + ']';
      }
      if (proto !== OBJECT && proto !== null) throw DECLINE;
      const keys = Object.keys(value);
      if (keys.length === 0) return '{}';
      const shape = shapeOf(keys, shapes);
      const names = shape.names;
      const heads = shape.heads;
      let out = '{';
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        out += heads[i] + text(value[name], name, depth + 1, shapes);
      }
      return out + '}';
    }
    default:
      throw DECLINE;
  }
}

/**
 * RFC 8785 canonical JSON of a plain value (plain objects and arrays, no `toJSON` surprises),
 * or `undefined`: then `canonicalize` decides.
 */
export function canonicalText(value) {
  try {
    return text(value, '', 0, new Map());
  } catch {
    return undefined;
  }
}

/** What a throw says, for a message. */
export function describe(error) {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'an unprintable value';
  }
}

/** `order.items[0].sku`: where a value sits, for an error. */
function render(path) {
  let out = 'order';
  for (const step of path) out += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return out;
}

function invalid(path, what) {
  return guardError('invalid_order', `${render(path)} ${what}`);
}

function walk(value, key, path, ancestors) {
  if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
    let toJSON;
    try {
      toJSON = value.toJSON;
    } catch (error) {
      throw invalid(path, `cannot be read: ${describe(error)}`);
    }
    if (typeof toJSON === 'function') {
      try {
        value = toJSON.call(value, key);
      } catch (error) {
        throw invalid(path, `toJSON() threw: ${describe(error)}`);
      }
    }
  }
  switch (typeof value) {
    case 'string':
      if (!wellFormed(value)) throw invalid(path, 'is a string with a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (Number.isNaN(value)) throw invalid(path, 'is NaN, which JSON cannot represent');
      if (value === Infinity) throw invalid(path, 'is Infinity, which JSON cannot represent');
      if (value === -Infinity) throw invalid(path, 'is -Infinity, which JSON cannot represent');
      return '' + value;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      throw invalid(path, 'is undefined (remove the member or use null)');
    case 'function':
      throw invalid(path, 'is a function');
    case 'symbol':
      throw invalid(path, 'is a symbol');
    case 'bigint':
      throw invalid(path, 'is a BigInt (use a number or a string)');
    case 'object':
      break;
    default:
      throw invalid(path, 'is not a JSON value');
  }
  if (value === null) return 'null';
  if (ancestors.includes(value)) throw invalid(path, 'refers back to itself (a cycle)');
  if (ancestors.length >= MAX_DEPTH) throw invalid(path, 'nests deeper than 64 levels');
  ancestors.push(value);
  let out;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += walk(value[i], i, [...path, i], ancestors);
    }
    out += ']';
  } else {
    const names = Object.keys(value).sort();
    out = '{';
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (!wellFormed(name)) throw invalid([...path, name], 'has a name with a lone surrogate');
      let member;
      try {
        member = value[name];
      } catch (error) {
        throw invalid([...path, name], `cannot be read: ${describe(error)}`);
      }
      if (i > 0) out += ',';
      out += JSON.stringify(name) + ':' + walk(member, name, [...path, name], ancestors);
    }
    out += '}';
  }
  ancestors.pop();
  return out;
}

/**
 * RFC 8785 canonical JSON of `value`; throws an `invalid_order` `CheckoutGuardError` naming
 * the path of what JSON cannot say.
 */
export function canonicalize(value) {
  const fast = canonicalText(value);
  return fast === undefined ? canonicalWalk(value) : fast;
}

/** The full walk alone (what `canonicalize` does when the fast path declines); for the tests. */
export function canonicalWalk(value) {
  return walk(value, '', [], []);
}
