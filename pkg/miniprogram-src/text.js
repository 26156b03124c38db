'use strict';
// UTF-8 TextEncoder / TextDecoder for runtimes that lack them (WeChat mini-programs). The
// platform's own classes are used where they exist; this compact version only where they are
// missing, and only in the modules that require it (the global scope is left alone).
//
// It covers what the core's binding (pkg/core.js) uses, and no more (the bundle's size counts):
// `new TextDecoder('utf-8', { ignoreBOM: true })`, `decode(bytes)` (invalid sequences become
// U+FFFD) and `new TextEncoder()`, `encodeInto(string, view)` (lone surrogates become U+FFFD,
// as in the standard).

class Utf8Encoder {
  encodeInto(input, view) {
    const string = String(input);
    let read = 0;
    let written = 0;
    while (read < string.length) {
      let code = string.charCodeAt(read);
      let units = 1;
      if (code >= 0xd800 && code <= 0xdbff && read + 1 < string.length) {
        const low = string.charCodeAt(read + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          units = 2;
        }
      }
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
      const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      if (written + size > view.length) break;
      if (size === 1) {
        view[written++] = code;
      } else {
        let shift = (size - 1) * 6;
        view[written++] = (0xf00 >> size) & 0xff | (code >> shift);
        while (shift > 0) {
          shift -= 6;
          view[written++] = 0x80 | ((code >> shift) & 0x3f);
        }
      }
      read += units;
    }
    return { read, written };
  }
}

class Utf8Decoder {
  constructor(label = 'utf-8', options = {}) {
    if (!/^utf-?8$/i.test(String(label))) throw new RangeError(`only utf-8 is supported, not ${label}`);
    this.ignoreBOM = Boolean(options && options.ignoreBOM);
  }

  decode(input) {
    if (input === undefined) return '';
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input.buffer || input, input.byteOffset || 0, input.byteLength);
    const units = [];
    let out = '';
    let i = 0;
    if (!this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
    while (i < bytes.length) {
      const first = bytes[i];
      let size = first < 0x80 ? 1 : first >= 0xc2 && first < 0xe0 ? 2 : first >= 0xe0 && first < 0xf0 ? 3 : first >= 0xf0 && first < 0xf5 ? 4 : 0;
      let code = size === 1 ? first : size === 2 ? first & 0x1f : size === 3 ? first & 0x0f : first & 0x07;
      for (let k = 1; k < size; k += 1) {
        const next = bytes[i + k];
        // Continuation bytes, with the first one's narrower ranges (no overlongs, no
        // surrogates, nothing above U+10FFFF).
        const low = k === 1 && first === 0xe0 ? 0xa0 : k === 1 && first === 0xf0 ? 0x90 : 0x80;
        const high = k === 1 && first === 0xed ? 0x9f : k === 1 && first === 0xf4 ? 0x8f : 0xbf;
        if (next === undefined || next < low || next > high) {
          size = -k; // invalid: one U+FFFD for the maximal prefix
          break;
        }
        code = (code << 6) | (next & 0x3f);
      }
      if (size <= 0) {
        units.push(0xfffd);
        i += size === 0 ? 1 : -size;
      } else {
        if (code >= 0x10000) {
          code -= 0x10000;
          units.push(0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff));
        } else {
          units.push(code);
        }
        i += size;
      }
      if (units.length >= 0x2000) {
        out += String.fromCharCode.apply(null, units);
        units.length = 0;
      }
    }
    return out + String.fromCharCode.apply(null, units);
  }
}

module.exports = {
  TextEncoder: typeof TextEncoder === 'function' ? TextEncoder : Utf8Encoder,
  TextDecoder: typeof TextDecoder === 'function' ? TextDecoder : Utf8Decoder,
  Utf8Encoder,
  Utf8Decoder,
};
