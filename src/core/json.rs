//! JSON, read and written by hand: the one hand-written piece of the core that a library would
//! normally do (issue 13).
//!
//! Every JSON text the guard meets passes through here: stored records and submissions, the
//! server's replies, the options object, an order's content on its way to its fingerprint, the
//! messages between tabs and the events handed to the page. serde's derives, serde_json and
//! their error messages (which pull in float printing) made a third of the wasm; the subset the
//! core needs is this module.
//!
//! - [`parse`] reads a JSON text into a [`Json`] tree: the order's content, for the
//!   canonicalizer.
//! - [`Object::parse`] reads a JSON object into its members, each kept as the raw, validated
//!   text of its value ([`Raw`]); typed readers then decode the members they know, field by
//!   field (records, replies, options). A member the core never decodes (the provider's
//!   `prepay`) stays the text the server sent.
//! - [`Writer`] writes one compact object, member by member; [`Fields`] is the same thing as a
//!   trait, so a type describes its members once for every sink (an event's members are the
//!   JSON the page's listeners receive).
//!
//! The reader accepts exactly RFC 8259 JSON: no comments, trailing commas, leading zeros, `+`
//! signs, single quotes, raw control characters or lone surrogates; whitespace is space, tab,
//! line feed and carriage return. As serde_json did before it, it refuses numbers beyond the
//! range of a double (`1e400`) and nesting deeper than [`MAX_NESTING`], and where an object
//! names a member twice the last one counts. It never panics (`fuzz/fuzz_targets/json.rs`).

use crate::prelude::*;
use core::fmt;

/// How deeply arrays and objects may nest in any text the reader accepts: serde_json's limit
/// (it refused a 128th level), so that every text accepted before still is. The canonicalizer
/// has its own, lower limit (`fingerprint::MAX_DEPTH`).
pub const MAX_NESTING: usize = 127;

/// A JSON value, as the canonicalizer needs it: numbers are doubles (RFC 8785 reads every
/// number as one), object members in the order they came, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object's members, in order.
    Object(Vec<(String, Json)>),
}

/// Why a text is not the JSON asked for: what was wrong, and at which byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// What the reader expected or found, e.g. "expected a value".
    pub what: &'static str,
    /// Byte offset into the text.
    pub at: usize,
}

impl JsonError {
    /// `"{what} at byte {at}"`, built without `core::fmt`.
    pub fn message(&self) -> String {
        let mut out = String::from(self.what);
        out.push_str(" at byte ");
        push_u64(&mut out, self.at as u64);
        out
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for JsonError {}

/// Reads `text`, which must be exactly one JSON value (whitespace around it allowed).
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut parser = Parser::new(text);
    let value = parser.value::<true>(0)?;
    parser.end()?;
    Ok(value)
}

/// Checks that `text` is exactly one JSON value nesting at most `max_nesting` deep (at most
/// [`MAX_NESTING`]), without building it: no tree, no number conversion.
pub fn validate(text: &str, max_nesting: usize) -> Result<(), JsonError> {
    let mut parser = Parser::new(text);
    parser.limit = max_nesting.min(MAX_NESTING);
    parser.value::<false>(0)?;
    parser.end()
}

/// A JSON object's members, each value kept as its raw text.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<'a> {
    members: Vec<(String, Raw<'a>)>,
}

impl<'a> Object<'a> {
    /// Reads `text`, which must be exactly one JSON object. Every member's value is validated
    /// (the whole text is JSON), but only decoded when asked for.
    pub fn parse(text: &'a str) -> Result<Object<'a>, JsonError> {
        let mut parser = Parser::new(text);
        parser.ws();
        let mut members = Vec::new();
        parser.object::<false>(0, |name, _, raw| members.push((name, Raw(raw))))?;
        parser.end()?;
        Ok(Object { members })
    }

    /// The value of member `name` (the last one, if the object names it more than once).
    pub fn get(&self, name: &str) -> Option<Raw<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, raw)| *raw)
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, Raw<'a>)> + '_ {
        self.members.iter().map(|(name, raw)| (name.as_str(), *raw))
    }

    /// The first member whose name is not in `known`, if any.
    pub fn unknown(&self, known: &[&str]) -> Option<&str> {
        self.members
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| !known.contains(name))
    }

    /// Member `name`, which must be there and read with `read`; `Err(name)` otherwise.
    pub fn required<T>(
        &self,
        name: &'static str,
        read: impl FnOnce(Raw<'a>) -> Option<T>,
    ) -> Result<T, &'static str> {
        self.get(name).and_then(read).ok_or(name)
    }

    /// Member `name`, absent or `null` as `None` (serde's `Option` with `default`); present, it
    /// must read with `read`, else `Err(name)`.
    pub fn optional<T>(
        &self,
        name: &'static str,
        read: impl FnOnce(Raw<'a>) -> Option<T>,
    ) -> Result<Option<T>, &'static str> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) if raw.is_null() => Ok(None),
            Some(raw) => read(raw).map(Some).ok_or(name),
        }
    }

    /// Member `name` as a string: absent or `null` as `None`, any other kind `Err(name)`.
    ///
    /// The readers of stored records and server replies read every member through this,
    /// [`Object::number`] and [`Object::object`]: one body each in the wasm, where
    /// [`Object::optional`] is compiled again for every reader closure.
    pub fn string(&self, name: &'static str) -> Result<Option<String>, &'static str> {
        self.optional(name, Raw::as_str)
    }

    /// Member `name` as a non-negative integer ([`Raw::as_u64`]), as [`Object::string`].
    pub fn number(&self, name: &'static str) -> Result<Option<u64>, &'static str> {
        self.optional(name, Raw::as_u64)
    }

    /// Member `name` as an object, kept raw, as [`Object::string`].
    pub fn object(&self, name: &'static str) -> Result<Option<Raw<'a>>, &'static str> {
        self.optional(name, |raw| raw.text().starts_with('{').then_some(raw))
    }

    /// Member `name`, absent as `None`; present (even `null`), it must read with `read`.
    pub fn present<T>(
        &self,
        name: &'static str,
        read: impl FnOnce(Raw<'a>) -> Option<T>,
    ) -> Result<Option<T>, &'static str> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => read(raw).map(Some).ok_or(name),
        }
    }
}

/// The raw text of one valid JSON value (no whitespace around it), decoded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// Reads `text`, which must be exactly one JSON value (whitespace around it allowed).
    pub fn parse(text: &'a str) -> Result<Raw<'a>, JsonError> {
        let mut parser = Parser::new(text);
        parser.ws();
        let start = parser.pos;
        parser.value::<false>(0)?;
        let raw = Raw(parser.slice(start));
        parser.end()?;
        Ok(raw)
    }

    /// The value's text, exactly as it was written.
    pub fn text(self) -> &'a str {
        self.0
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// `true` or `false`.
    pub fn as_bool(self) -> Option<bool> {
        match self.0 {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// A non-negative integer written without fraction or exponent, within `u64`.
    pub fn as_u64(self) -> Option<u64> {
        parse_u64(self.0.as_bytes())
    }

    /// A string, unescaped.
    pub fn as_str(self) -> Option<String> {
        if !self.0.starts_with('"') {
            return None;
        }
        Parser::new(self.0).string::<true>().ok()
    }

    /// An object.
    pub fn as_object(self) -> Option<Object<'a>> {
        if !self.0.starts_with('{') {
            return None;
        }
        Object::parse(self.0).ok()
    }

    /// An array's items.
    pub fn as_array(self) -> Option<Vec<Raw<'a>>> {
        if !self.0.starts_with('[') {
            return None;
        }
        let mut parser = Parser::new(self.0);
        let mut items = Vec::new();
        parser
            .array::<false>(0, |_, raw| items.push(Raw(raw)))
            .ok()?;
        Some(items)
    }
}

/// A recursive-descent reader over the bytes of a `&str`. It only ever stops on ASCII bytes, so
/// every position it slices at is a character boundary; slicing goes through `str::get` anyway,
/// so a mistake would be an error, never a panic.
///
/// `BUILD` chooses between building the [`Json`] tree and only checking the text: checking
/// allocates nothing for values and never converts a number (the wasm then links no
/// decimal-to-double conversion, whose tables alone are 10 KB).
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    limit: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            limit: MAX_NESTING,
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, JsonError> {
        Err(JsonError { what, at: self.pos })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.pos < self.bytes.len() {
            return self.fail("unexpected text after the value");
        }
        Ok(())
    }

    fn slice(&self, from: usize) -> &'a str {
        self.text.get(from..self.pos).unwrap_or_default()
    }

    /// One value; with `BUILD` false, `Json::Null` stands for whatever was read.
    fn value<const BUILD: bool>(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                let mut members = Vec::new();
                self.object::<BUILD>(depth, |name, value, _| {
                    if BUILD {
                        members.push((name, value));
                    }
                })?;
                Ok(Json::Object(members))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.array::<BUILD>(depth, |value, _| {
                    if BUILD {
                        items.push(value);
                    }
                })?;
                Ok(Json::Array(items))
            }
            Some(b'"') => self.string::<BUILD>().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number::<BUILD>().map(Json::Number),
            _ => self.fail("expected a value"),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        if self
            .bytes
            .get(self.pos..)
            .unwrap_or_default()
            .starts_with(word.as_bytes())
        {
            self.pos += word.len();
            Ok(value)
        } else {
            self.fail("expected a value")
        }
    }

    fn nest(&self, depth: usize) -> Result<usize, JsonError> {
        if depth >= self.limit {
            self.fail("nesting too deep")
        } else {
            Ok(depth + 1)
        }
    }

    /// `{ "name": value, … }` at the current position, calling `member` with each name, value
    /// and the value's raw text.
    fn object<const BUILD: bool>(
        &mut self,
        depth: usize,
        mut member: impl FnMut(String, Json, &'a str),
    ) -> Result<(), JsonError> {
        if !self.eat(b'{') {
            return self.fail("expected an object");
        }
        let depth = self.nest(depth)?;
        self.ws();
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.fail("expected a member name");
            }
            // Names are always decoded: typed readers look members up by name.
            let name = self.string::<true>()?;
            self.ws();
            if !self.eat(b':') {
                return self.fail("expected ':'");
            }
            self.ws();
            let start = self.pos;
            let value = self.value::<BUILD>(depth)?;
            member(name, value, self.slice(start));
            self.ws();
            if self.eat(b'}') {
                return Ok(());
            }
            if !self.eat(b',') {
                return self.fail("expected ',' or '}'");
            }
        }
    }

    /// `[ value, … ]` at the current position, calling `item` with each value and its raw text.
    fn array<const BUILD: bool>(
        &mut self,
        depth: usize,
        mut item: impl FnMut(Json, &'a str),
    ) -> Result<(), JsonError> {
        if !self.eat(b'[') {
            return self.fail("expected an array");
        }
        let depth = self.nest(depth)?;
        self.ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            self.ws();
            let start = self.pos;
            let value = self.value::<BUILD>(depth)?;
            item(value, self.slice(start));
            self.ws();
            if self.eat(b']') {
                return Ok(());
            }
            if !self.eat(b',') {
                return self.fail("expected ',' or ']'");
            }
        }
    }

    /// A string; unescaped into a `String` only with `BUILD`.
    fn string<const BUILD: bool>(&mut self) -> Result<String, JsonError> {
        if !self.eat(b'"') {
            return self.fail("expected a string");
        }
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    if BUILD {
                        out.push_str(self.slice(run));
                    }
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    if BUILD {
                        out.push_str(self.slice(run));
                    }
                    self.pos += 1;
                    let c = self.escape()?;
                    if BUILD {
                        out.push(c);
                    }
                    run = self.pos;
                }
                Some(0..=0x1f) => return self.fail("control character in a string"),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The character of the escape after a `\`.
    fn escape(&mut self) -> Result<char, JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode_escape();
            }
            _ => return self.fail("invalid escape"),
        };
        self.pos += 1;
        Ok(c)
    }

    /// After `\u`: four hex digits, and a second `\uXXXX` when they are a high surrogate.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return self.fail("lone surrogate");
                }
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return self.fail("lone surrogate");
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return self.fail("lone surrogate"),
            _ => first,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.fail("invalid escape"),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return self.fail("invalid \\u escape"),
            };
            code = code * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(code)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, within a double's range; as a
    /// double only with `BUILD` (else 0).
    fn number<const BUILD: bool>(&mut self) -> Result<f64, JsonError> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("invalid number"),
        }
        if self.eat(b'.') && !self.digits() {
            return self.fail("invalid number");
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return self.fail("invalid number");
            }
        }
        let text = self.slice(start);
        let out_of_range = Err(JsonError {
            what: "number out of range",
            at: start,
        });
        if !BUILD {
            return if in_range(text) {
                Ok(0.0)
            } else {
                out_of_range
            };
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => out_of_range,
        }
    }

    /// Skips a run of digits; whether there was one.
    fn digits(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos > start
    }
}

/// The digits of 2^1024 − 2^970: a decimal number rounds to a finite double exactly when its
/// magnitude is below this (halfway between `f64::MAX` and 2^1024, where rounding to even gives
/// infinity).
const OVERFLOW: &[u8; 309] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// Whether `number` (valid JSON number text) is within a double's range, decided on its digits:
/// what `str::parse::<f64>` gives a finite result for, without its 10 KB of tables.
fn in_range(number: &str) -> bool {
    let number = number.strip_prefix('-').unwrap_or(number);
    // Byte searches: `str::find` of a char pattern links `memchr` (0.7 KB of the wasm).
    let (mantissa, exponent) = match number.bytes().position(|b| b == b'e' || b == b'E') {
        Some(at) => (number.get(..at).unwrap_or_default(), number.get(at + 1..)),
        None => (number, None),
    };
    // The exponent, saturated far beyond any that matters.
    let exponent = exponent.map_or(0i64, |e| {
        let (negative, digits) = match e.as_bytes().first() {
            Some(b'-') => (true, e.get(1..).unwrap_or_default()),
            Some(b'+') => (false, e.get(1..).unwrap_or_default()),
            _ => (false, e),
        };
        let magnitude = digits.bytes().fold(0i64, |n, d| {
            (n * 10 + i64::from(d - b'0')).min(1_000_000_000)
        });
        if negative {
            -magnitude
        } else {
            magnitude
        }
    });
    let integer_digits = mantissa
        .bytes()
        .position(|b| b == b'.')
        .unwrap_or(mantissa.len()) as i64;
    let mut digits = mantissa.bytes().filter(u8::is_ascii_digit);
    let mut leading_zeros = 0i64;
    let first = loop {
        match digits.next() {
            Some(b'0') => leading_zeros += 1,
            Some(d) => break d,
            None => return true, // zero
        }
    };
    // The number is 0.DDD… × 10^scale, its first digit D not zero.
    let scale = integer_digits - leading_zeros + exponent;
    if scale != OVERFLOW.len() as i64 {
        return scale < OVERFLOW.len() as i64;
    }
    let mut next = Some(first);
    for &limit in OVERFLOW.iter() {
        match next {
            None => return true,
            Some(d) if d < limit => return true,
            Some(d) if d > limit => return false,
            Some(_) => next = digits.next(),
        }
    }
    // Every digit of the limit matched: the number is at or above it (a tie rounds to
    // infinity).
    false
}

/// Appends `s` as a JSON string: `"` and `\` escaped, the C0 controls as `\b \t \n \f \r` or
/// `\u00xx`, everything else literal. That is what serde_json and `JSON.stringify` write for
/// well-formed text, and RFC 8785's rule.
pub fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(short);
        }
        run = i + 1;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
}

/// Appends `n` in decimal (no `core::fmt`).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// Appends `n` in decimal (no `core::fmt`).
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `text` as a `u64` when it is one or more ASCII digits and no more than `u64::MAX` (no sign,
/// no space): what a JSON integer member and an HTTP delta-seconds are. Without `str::parse`,
/// whose sign handling and 128-bit overflow multiply cost the wasm 0.3 KB.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    const LIMIT: u64 = u64::MAX / 10;
    if text.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in text {
        let digit = u64::from(b.wrapping_sub(b'0'));
        // `n * 10 + digit` fits exactly when `n` is below u64::MAX / 10, or equal to it with a
        // last digit of at most 5 (u64::MAX ends in 5).
        if digit > 9 || n > LIMIT || (n == LIMIT && digit > u64::MAX % 10) {
            return None;
        }
        n = n * 10 + digit;
    }
    Some(n)
}

/// The texts one after the other: what `[a, b].concat()` gives, for the messages of every
/// error, without std's generic `join` (0.5 KB of the wasm for one use of a separator it never
/// has).
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `n` in decimal.
pub fn decimal(n: u64) -> String {
    let mut out = String::new();
    push_u64(&mut out, n);
    out
}

/// A number as RFC 8785 and ECMAScript's `String(x)` print it (`1e+21`, `0.000001`, `-0` as
/// `0`): the canonical form, and how any number from JavaScript is written.
pub fn push_number(out: &mut String, x: f64) {
    let mut buffer = ryu_js::Buffer::new();
    out.push_str(buffer.format_finite(x));
}

/// `json`, valid JSON text, without the whitespace between its tokens.
///
/// By bytes, copying the runs between white space: every byte that matters here is ASCII, and
/// going by `char`s decoded and re-encoded each one (0.2 KB more of the wasm).
pub fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut run = 0;
    for (i, &b) in json.as_bytes().iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push_str(json.get(run..i).unwrap_or_default());
            run = i + 1;
        } else {
            in_string = b == b'"';
        }
    }
    out.push_str(json.get(run..).unwrap_or_default());
    out
}

/// The members of one flat JSON object, written by a type that knows its wire shape (an event,
/// an outcome) to any sink: [`Writer`] for JSON text.
pub trait Fields {
    /// A string member.
    fn str(&mut self, name: &str, value: &str);
    /// A non-negative integer member.
    fn u64(&mut self, name: &str, value: u64);
    /// An integer member.
    fn i64(&mut self, name: &str, value: i64);
    /// A boolean member.
    fn bool(&mut self, name: &str, value: bool);
    /// A `null` member.
    fn null(&mut self, name: &str);

    /// A string member, `null` when `None`.
    fn opt_str(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(name, value),
            None => self.null(name),
        }
    }

    /// An integer member, `null` when `None`.
    fn opt_u64(&mut self, name: &str, value: Option<u64>) {
        match value {
            Some(value) => self.u64(name, value),
            None => self.null(name),
        }
    }
}

/// One compact JSON object, written member by member in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    out: String,
    empty: bool,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer::new()
    }
}

impl Writer {
    /// An object with no members yet.
    pub fn new() -> Writer {
        Writer {
            out: String::from("{"),
            empty: true,
        }
    }

    fn name(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, name);
        self.out.push(':');
    }

    /// A member whose value is `json`, already JSON text (a nested object, a raw prepay).
    pub fn raw(&mut self, name: &str, json: &str) {
        self.name(name);
        self.out.push_str(json);
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

impl Fields for Writer {
    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        push_string(&mut self.out, value);
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        push_u64(&mut self.out, value);
    }

    fn i64(&mut self, name: &str, value: i64) {
        self.name(name);
        push_i64(&mut self.out, value);
    }

    fn bool(&mut self, name: &str, value: bool) {
        self.raw(name, if value { "true" } else { "false" });
    }

    fn null(&mut self, name: &str) {
        self.raw(name, "null");
    }
}

impl Json {
    /// The value as JSON text, members in their order (not canonical: see `fingerprint`).
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(x) => push_number(out, *x),
            Json::String(s) => push_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (name, member)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_string(out, name);
                    out.push(':');
                    member.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Json {
    /// The value as compact JSON text ([`Json::write`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

/// serde_json's values as the core's (native builds only: the server and the tests keep
/// serde_json; the wasm never links it). Every serde_json number is finite.
#[cfg(not(target_arch = "wasm32"))]
impl From<&serde_json::Value> for Json {
    fn from(value: &serde_json::Value) -> Json {
        use serde_json::Value;
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Json::String(s.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(members) => Json::Object(
                members
                    .iter()
                    .map(|(name, member)| (name.clone(), Json::from(member)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> JsonError {
        match parse(text) {
            Ok(v) => panic!("{text:?} was accepted as {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc8259_values() {
        assert_eq!(ok("null"), Json::Null);
        assert_eq!(ok(" \t\r\ntrue \n"), Json::Bool(true));
        assert_eq!(ok("false"), Json::Bool(false));
        assert_eq!(ok("\"\""), Json::String(String::new()));
        assert_eq!(ok("[]"), Json::Array(vec![]));
        assert_eq!(ok("{}"), Json::Object(vec![]));
        assert_eq!(
            ok(r#"{"a":[1,{"b":null}],"":"x"}"#),
            Json::Object(vec![
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Number(1.0),
                        Json::Object(vec![("b".into(), Json::Null)])
                    ])
                ),
                (String::new(), Json::String("x".into())),
            ])
        );
        // A scalar alone is a JSON text (RFC 8259 §2, unlike RFC 4627).
        assert_eq!(ok("42"), Json::Number(42.0));
    }

    #[test]
    fn rfc8259_numbers() {
        for (text, x) in [
            ("0", 0.0),
            ("-0", -0.0),
            ("1.5", 1.5),
            ("-12.25e2", -1225.0),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("1e-3", 0.001),
            ("123456789012345678901234567890", 1.2345678901234568e29),
            ("1.7976931348623157e308", f64::MAX),
            ("5e-324", 5e-324),
            ("1e-400", 0.0),
        ] {
            assert_eq!(ok(text), Json::Number(x), "{text}");
        }
        for text in [
            "01",
            "-",
            "+1",
            ".5",
            "1.",
            "1.e3",
            "1e",
            "1e+",
            "0x10",
            "NaN",
            "Infinity",
            "-Infinity",
            "1_000",
            "--1",
            "1.5.5",
        ] {
            err(text);
        }
        assert_eq!(err("1e400").what, "number out of range");
        assert_eq!(err("-1e400").what, "number out of range");
    }

    #[test]
    fn rfc8259_strings() {
        assert_eq!(
            ok(r#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00\u0000""#),
            Json::String("\"\\/\u{8}\u{c}\n\r\tAé€\u{1f600}\u{0}".into())
        );
        assert_eq!(ok("\"é茶\u{1f600}\""), Json::String("é茶\u{1f600}".into()));
        // DEL and U+2028 need no escape.
        assert_eq!(
            ok("\"\u{7f}\u{2028}\""),
            Json::String("\u{7f}\u{2028}".into())
        );
        for text in [
            "\"abc",
            "\"\\\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"a\nb\"",
            "\"\t\"",
            "\"\u{0}\"",
            "'single'",
        ] {
            err(text);
        }
        for text in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            r#""\ude00\ud83d""#,
        ] {
            assert_eq!(err(text).what, "lone surrogate", "{text}");
        }
    }

    #[test]
    fn rfc8259_structure() {
        for text in [
            "",
            " ",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{1:1}",
            "{\"a\":}",
            "[",
            "]",
            "{",
            "nul",
            "truee",
            "[1]x",
            "1 2",
            "/* c */ 1",
            "\u{feff}1",
            "\u{a0}1",
        ] {
            err(text);
        }
        assert_eq!(err("[1]x").at, 3);
    }

    #[test]
    fn nesting_is_bounded_without_exhausting_the_stack() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(parse(&deep(MAX_NESTING)).is_ok());
        assert_eq!(err(&deep(MAX_NESTING + 1)).what, "nesting too deep");
        assert_eq!(err(&deep(100_000)).what, "nesting too deep");
        let objects = "{\"a\":".repeat(MAX_NESTING + 1) + "1" + &"}".repeat(MAX_NESTING + 1);
        assert_eq!(err(&objects).what, "nesting too deep");
    }

    #[test]
    fn objects_keep_raw_members_and_the_last_duplicate_counts() {
        let text = r#" { "a" : 1 , "b":{ "c" : [ 1, 2 ] } ,"s":"x\ny","a":2, "n": null } "#;
        let object = Object::parse(text).expect("object");
        assert_eq!(object.get("a").map(Raw::text), Some("2"));
        assert_eq!(
            object.get("b").map(Raw::text),
            Some(r#"{ "c" : [ 1, 2 ] }"#)
        );
        assert_eq!(
            object.get("s").and_then(Raw::as_str).as_deref(),
            Some("x\ny")
        );
        assert_eq!(object.get("a").and_then(Raw::as_u64), Some(2));
        assert!(object.get("n").is_some_and(Raw::is_null));
        assert_eq!(object.get("zz"), None);
        let inner = object.get("b").and_then(Raw::as_object).expect("inner");
        let items = inner.get("c").and_then(Raw::as_array).expect("items");
        assert_eq!(
            items.iter().map(|r| r.text()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(object.unknown(&["a", "b", "s", "n"]), None);
        assert_eq!(object.unknown(&["a", "b"]), Some("s"));
        assert_eq!(object.required("a", Raw::as_u64), Ok(2));
        assert_eq!(object.required("s", Raw::as_u64), Err("s"));
        assert_eq!(object.optional("n", Raw::as_u64), Ok(None));
        assert_eq!(object.optional("zz", Raw::as_u64), Ok(None));
        assert_eq!(object.present("n", Raw::as_u64), Err("n"));
        for text in ["[]", "1", "\"{}\"", "{} {}", "{\"a\":1e400}"] {
            assert!(Object::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn raw_integers_are_exact() {
        let u = |text: &str| Raw(text).as_u64();
        assert_eq!(u("18446744073709551615"), Some(u64::MAX));
        assert_eq!(u("18446744073709551616"), None);
        for text in ["-1", "1.0", "1e3", "-0", "\"1\"", "", "+1", " 1"] {
            assert_eq!(u(text), None, "{text}");
        }
        // Every digit string, against `str::parse`: around the limit, and with leading zeros.
        for n in [
            0,
            9,
            10,
            u64::MAX / 10,
            u64::MAX / 10 + 1,
            u64::MAX - 6,
            u64::MAX,
        ] {
            for text in [n.to_string(), format!("000{n}")] {
                assert_eq!(parse_u64(text.as_bytes()), text.parse().ok(), "{text}");
            }
        }
        for text in [
            "18446744073709551620",
            "18446744073709551625",
            "99999999999999999999",
        ] {
            assert_eq!(parse_u64(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_and_json_stringify_write_them() {
        let mut out = String::new();
        push_string(
            &mut out,
            "a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}/é\u{2028}\u{1f600}",
        );
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}/é\u{2028}\u{1f600}\""
        );
        let round = parse(&out).expect("reads back");
        assert_eq!(
            round,
            Json::String("a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}/é\u{2028}\u{1f600}".into())
        );
    }

    #[test]
    fn writer_and_integers() {
        let mut w = Writer::new();
        w.str("s", "x\"");
        w.u64("u", u64::MAX);
        w.i64("i", i64::MIN);
        w.bool("b", false);
        w.opt_str("o", None);
        w.opt_u64("p", Some(0));
        w.raw("r", "{\"k\":[]}");
        assert_eq!(
            w.finish(),
            r#"{"s":"x\"","u":18446744073709551615,"i":-9223372036854775808,"b":false,"o":null,"p":0,"r":{"k":[]}}"#
        );
        assert_eq!(Writer::new().finish(), "{}");
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(1000), "1000");
    }

    #[test]
    fn compact_drops_only_whitespace_between_tokens() {
        assert_eq!(
            compact(" { \"a b\" : [ 1 , \"x \\\" y\\\\\" ] ,\n\t\"c\" : { } } "),
            "{\"a b\":[1,\"x \\\" y\\\\\"],\"c\":{}}"
        );
        assert_eq!(
            compact("{ \"é 😀\" :\r\n[ \"a é\" ] }"),
            "{\"é 😀\":[\"a é\"]}"
        );
    }

    #[test]
    fn trees_write_back_as_json() {
        let text = r#"{"b":[1,2.5,-0,1e21,"x\n",true,null],"a":{}}"#;
        let mut out = String::new();
        ok(text).write(&mut out);
        assert_eq!(out, r#"{"b":[1,2.5,0,1e+21,"x\n",true,null],"a":{}}"#);
    }

    #[test]
    fn accepts_what_serde_json_accepted() {
        // The reader replaced serde_json (issue 13): on the edges, both say the same.
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        let texts = [
            deep(MAX_NESTING - 1),
            deep(MAX_NESTING),
            deep(MAX_NESTING + 1),
            "1.7976931348623157e308".into(),
            "1.7976931348623158e308".into(),
            "1.7976931348623159e308".into(),
            "-1e309".into(),
            "1e-400".into(),
            "\"\\ud800\"".into(),
            "{\"a\":1,\"a\":2}".into(),
            "[1,]".into(),
            " 1 ".into(),
        ];
        for text in texts {
            let ours = parse(&text).is_ok();
            let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            assert_eq!(ours, theirs, "{text:.40}");
            assert_eq!(validate(&text, MAX_NESTING).is_ok(), ours, "{text:.40}");
        }
    }

    #[test]
    fn the_range_check_agrees_with_parsing() {
        let limit = std::str::from_utf8(OVERFLOW).unwrap_or_default();
        // The limit with its last digit (2) lowered: just below it.
        let below = format!("{}1", &limit[..308]);
        for text in [
            "0",
            "-0.0e999999999999",
            "0.000000000000000000000000000000000000000001e350",
            "1e308",
            "1e309",
            "10e308",
            "0.1e309",
            "0.99e309",
            "1.797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977919999e308",
            "1.7976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447573027006985557136695962284291481986083493647529271907416844436551070434271155969950809304288017790417449779e308",
            "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447573027006985557136695962284291481986083493647529271907416844436551070434271155969950809304288017790417449779200000000e-8",
            limit,
            &below,
            "-179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
        ] {
            let parsed = text.parse::<f64>().is_ok_and(f64::is_finite);
            assert_eq!(in_range(text), parsed, "{text:.50}");
        }
    }

    #[test]
    fn serde_json_values_convert() {
        let value = serde_json::json!({"a": [1, 2.5, "x", null, true]});
        assert_eq!(Json::from(&value), ok(r#"{"a":[1,2.5,"x",null,true]}"#));
    }

    /// serde_json's reading, as the core's tree (for comparing; `None` when it refused).
    fn serde_reading(text: &str) -> Option<Json> {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .map(|v| Json::from(&v))
    }

    /// The core's reading with duplicate names resolved as serde_json's maps resolve them (the
    /// last counts) and members sorted as serde_json's maps sort them.
    fn normalised(value: Json) -> Json {
        match value {
            Json::Array(items) => Json::Array(items.into_iter().map(normalised).collect()),
            Json::Object(members) => {
                let mut map = std::collections::BTreeMap::new();
                for (name, member) in members {
                    map.insert(name, normalised(member));
                }
                Json::Object(map.into_iter().collect())
            }
            other => other,
        }
    }

    proptest::proptest! {
        /// Texts near JSON (its tokens, shuffled): accepted exactly when serde_json accepted
        /// them, and read the same. `fuzz/fuzz_targets/json.rs` does the same, unbounded.
        #[test]
        fn reads_token_soup_as_serde_json_did(tokens in proptest::collection::vec(
            proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "d83d", "de00", "00e9", "0",
                "1", "9", "-", ".", "e", "E", "+", "a", "é", "\u{1f600}", "true", "false", "null",
                " ", "\n", "\t", "\u{1}", "1e400", "\"k\"", "\"v\"", "\\n", "\\/", "/",
            ]),
            0..24,
        )) {
            let text: String = tokens.concat();
            let ours = parse(&text).ok().map(normalised);
            proptest::prop_assert_eq!(ours, serde_reading(&text).map(normalised), "{:?}", text);
            proptest::prop_assert_eq!(validate(&text, MAX_NESTING).is_ok(), parse(&text).is_ok());
        }

        /// Any number serde_json writes reads back as the same double.
        #[test]
        fn numbers_read_as_serde_json_reads_them(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, exp in -400i32..400) {
            for text in [
                serde_json::to_string(&x).unwrap_or_default(),
                format!("{x:e}"),
                format!("1e{exp}"),
                format!("-12.5E{exp}"),
            ] {
                proptest::prop_assert_eq!(parse(&text).ok(), serde_reading(&text), "{}", text);
                proptest::prop_assert_eq!(in_range(&text), text.parse::<f64>().is_ok_and(f64::is_finite), "{}", text);
            }
        }
    }
}
