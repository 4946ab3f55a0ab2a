//! JavaScript values ⇄ msgpack bytes, with raw N-API calls (one call per
//! value node; no intermediate tree).
//!
//! To msgpack: null/undefined → nil, booleans, numbers (integers as ints,
//! others and -0 as float64), BigInt within 64 bits → int64/uint64, strings,
//! Buffer/TypedArray/ArrayBuffer/DataView → bin, Date → timestamp ext (-1),
//! arrays, other objects → maps of their own enumerable string keys.
//! Functions, symbols, Map, Set, wider BigInts and cycles are refused.
//!
//! From msgpack: the reverse; integers beyond 2^53 become BigInt, bin
//! becomes Buffer, maps become plain objects, other ext types become
//! `{ type, data }`.

use std::ffi::c_void;
use std::ptr;

use napi::sys;

use crate::wire::marker::{be_at, Kind};
use crate::wire::read::{Number, Reader};

/// Why a JavaScript value could not be encoded.
pub enum EncodeError {
    /// Not serialisable: the message says what and where.
    Type(String),
    /// An N-API call failed (an exception is pending, e.g. from a getter).
    Napi,
}

type Enc<T> = Result<T, EncodeError>;

fn ok(status: sys::napi_status) -> Enc<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(EncodeError::Napi)
    }
}

struct Encoder {
    env: sys::napi_env,
    out: Vec<u8>,
    max_depth: usize,
    map_ctor: sys::napi_value,
    set_ctor: sys::napi_value,
    /// The arrays and objects being encoded, outermost first, each with the
    /// length of its path: what a cycle is looked for in once the depth
    /// limit is reached (never before, so well-formed values pay nothing
    /// for it but a push and a pop).
    ancestors: Vec<(sys::napi_value, usize)>,
}

/// Encodes `value` as msgpack. `path` names the argument in messages.
///
/// # Safety
/// `env` and `value` must be valid handles of the current call.
pub unsafe fn encode(env: sys::napi_env, value: sys::napi_value, max_depth: usize) -> Enc<Vec<u8>> {
    let mut e = Encoder {
        env,
        out: Vec::with_capacity(32),
        max_depth,
        map_ctor: ptr::null_mut(),
        set_ctor: ptr::null_mut(),
        ancestors: Vec::new(),
    };
    let mut path = String::from("value");
    unsafe { e.value(value, 0, &mut path)? };
    Ok(e.out)
}

impl Encoder {
    unsafe fn type_of(&self, v: sys::napi_value) -> Enc<i32> {
        let mut t = 0;
        ok(unsafe { sys::napi_typeof(self.env, v, &mut t) })?;
        Ok(t)
    }

    unsafe fn is(
        &self,
        f: unsafe fn(sys::napi_env, sys::napi_value, *mut bool) -> sys::napi_status,
        v: sys::napi_value,
    ) -> Enc<bool> {
        let mut r = false;
        ok(unsafe { f(self.env, v, &mut r) })?;
        Ok(r)
    }

    unsafe fn string(&self, v: sys::napi_value) -> Enc<String> {
        let mut len = 0usize;
        ok(unsafe { sys::napi_get_value_string_utf8(self.env, v, ptr::null_mut(), 0, &mut len) })?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        ok(unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                v,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut written,
            )
        })?;
        buf.truncate(written);
        // N-API writes valid UTF-8 (lone surrogates become U+FFFD)
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    unsafe fn global_ctor(&self, name: &std::ffi::CStr) -> Enc<sys::napi_value> {
        let mut global = ptr::null_mut();
        ok(unsafe { sys::napi_get_global(self.env, &mut global) })?;
        let mut ctor = ptr::null_mut();
        ok(unsafe { sys::napi_get_named_property(self.env, global, name.as_ptr(), &mut ctor) })?;
        Ok(ctor)
    }

    unsafe fn instance_of(&mut self, v: sys::napi_value, map: bool) -> Enc<bool> {
        let cached = if map { self.map_ctor } else { self.set_ctor };
        let ctor = if cached.is_null() {
            let ctor = unsafe { self.global_ctor(if map { c"Map" } else { c"Set" })? };
            if map {
                self.map_ctor = ctor;
            } else {
                self.set_ctor = ctor;
            }
            ctor
        } else {
            cached
        };
        let mut r = false;
        ok(unsafe { sys::napi_instanceof(self.env, v, ctor, &mut r) })?;
        Ok(r)
    }

    fn str(&mut self, s: &str) {
        crate::wire::write::write_str(&mut self.out, s);
    }

    fn bin(&mut self, bytes: &[u8]) {
        let _ = rmp::encode::write_bin(&mut self.out, bytes);
    }

    fn number(&mut self, n: f64) {
        const SAFE: f64 = 9_007_199_254_740_991.0;
        if n.fract() == 0.0 && n.abs() <= SAFE && !(n == 0.0 && n.is_sign_negative()) {
            if n >= 0.0 {
                crate::wire::write::write_uint(&mut self.out, n as u64);
            } else {
                let _ = rmp::encode::write_sint(&mut self.out, n as i64);
            }
        } else {
            let _ = rmp::encode::write_f64(&mut self.out, n);
        }
    }

    unsafe fn value(&mut self, v: sys::napi_value, depth: usize, path: &mut String) -> Enc<()> {
        use sys::ValueType::*;
        match unsafe { self.type_of(v)? } {
            t if t == napi_undefined || t == napi_null => self.out.push(0xc0),
            t if t == napi_boolean => {
                let mut b = false;
                ok(unsafe { sys::napi_get_value_bool(self.env, v, &mut b) })?;
                crate::wire::write::write_bool(&mut self.out, b);
            }
            t if t == napi_number => {
                let mut n = 0.0;
                ok(unsafe { sys::napi_get_value_double(self.env, v, &mut n) })?;
                self.number(n);
            }
            t if t == napi_string => {
                let s = unsafe { self.string(v)? };
                self.str(&s);
            }
            t if t == napi_bigint => unsafe { self.bigint(v, path)? },
            t if t == napi_object => unsafe { self.object(v, depth, path)? },
            t if t == napi_symbol => {
                return Err(EncodeError::Type(format!(
                    "{path} is a symbol, which msgpack cannot carry"
                )))
            }
            t if t == napi_function => {
                return Err(EncodeError::Type(format!(
                    "{path} is a function, which msgpack cannot carry"
                )))
            }
            _ => {
                return Err(EncodeError::Type(format!(
                    "{path} has a type msgpack cannot carry"
                )))
            }
        }
        Ok(())
    }

    unsafe fn bigint(&mut self, v: sys::napi_value, path: &str) -> Enc<()> {
        let mut sign = 0;
        let mut count = 0usize;
        // sign and words both null: only the word count is returned
        ok(unsafe {
            sys::napi_get_value_bigint_words(
                self.env,
                v,
                ptr::null_mut(),
                &mut count,
                ptr::null_mut(),
            )
        })?;
        let too_wide = || {
            EncodeError::Type(format!(
                "{path} is a BigInt wider than 64 bits, which msgpack cannot carry"
            ))
        };
        if count > 1 {
            return Err(too_wide());
        }
        let mut word = 0u64;
        let mut count = 1usize;
        ok(unsafe {
            sys::napi_get_value_bigint_words(self.env, v, &mut sign, &mut count, &mut word)
        })?;
        if sign == 0 {
            crate::wire::write::write_uint(&mut self.out, word);
        } else if word <= 1 << 63 {
            let _ = rmp::encode::write_sint(&mut self.out, (word as i128).wrapping_neg() as i64);
        } else {
            return Err(too_wide());
        }
        Ok(())
    }

    unsafe fn bytes_of_view(&mut self, v: sys::napi_value) -> Enc<Option<()>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        if unsafe { self.is(sys::napi_is_typedarray, v)? } {
            let mut kind = 0;
            let mut elems = 0usize;
            let mut ab = ptr::null_mut();
            let mut offset = 0usize;
            ok(unsafe {
                sys::napi_get_typedarray_info(
                    self.env,
                    v,
                    &mut kind,
                    &mut elems,
                    &mut data,
                    &mut ab,
                    &mut offset,
                )
            })?;
            let width = match kind {
                sys::TypedarrayType::int8_array
                | sys::TypedarrayType::uint8_array
                | sys::TypedarrayType::uint8_clamped_array => 1,
                sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
                sys::TypedarrayType::int32_array
                | sys::TypedarrayType::uint32_array
                | sys::TypedarrayType::float32_array => 4,
                _ => 8,
            };
            len = elems * width;
        } else if unsafe { self.is(sys::napi_is_arraybuffer, v)? } {
            ok(unsafe { sys::napi_get_arraybuffer_info(self.env, v, &mut data, &mut len) })?;
        } else if unsafe { self.is(sys::napi_is_dataview, v)? } {
            let mut ab = ptr::null_mut();
            let mut offset = 0usize;
            ok(unsafe {
                sys::napi_get_dataview_info(self.env, v, &mut len, &mut data, &mut ab, &mut offset)
            })?;
        } else {
            return Ok(None);
        }
        let bytes = if len == 0 || data.is_null() {
            &[][..]
        } else {
            // SAFETY: N-API reported `len` readable bytes at `data`, alive for this call.
            unsafe { std::slice::from_raw_parts(data as *const u8, len) }
        };
        self.bin(bytes);
        Ok(Some(()))
    }

    unsafe fn object(&mut self, v: sys::napi_value, depth: usize, path: &mut String) -> Enc<()> {
        if depth >= self.max_depth {
            let e = unsafe { self.too_deep(v, path)? };
            return Err(e);
        }
        if unsafe { self.is(sys::napi_is_array, v)? } {
            self.ancestors.push((v, path.len()));
            let mut n = 0u32;
            ok(unsafe { sys::napi_get_array_length(self.env, v, &mut n) })?;
            crate::wire::write::write_array_len(&mut self.out, n as usize);
            let base = path.len();
            for i in 0..n {
                let mut item = ptr::null_mut();
                ok(unsafe { sys::napi_get_element(self.env, v, i, &mut item) })?;
                path.truncate(base);
                path.push_str(&format!("[{i}]"));
                unsafe { self.value(item, depth + 1, path)? };
            }
            path.truncate(base);
            self.ancestors.pop();
            return Ok(());
        }
        if unsafe { self.bytes_of_view(v)? }.is_some() {
            return Ok(());
        }
        if unsafe { self.is(sys::napi_is_date, v)? } {
            let mut ms = 0.0;
            ok(unsafe { sys::napi_get_date_value(self.env, v, &mut ms) })?;
            if !ms.is_finite() {
                return Err(EncodeError::Type(format!("{path} is an invalid Date")));
            }
            write_timestamp(&mut self.out, ms);
            return Ok(());
        }
        if unsafe { self.instance_of(v, true)? } {
            return Err(EncodeError::Type(format!(
                "{path} is a Map, which has no msgpack form here; pass Object.fromEntries(map)"
            )));
        }
        if unsafe { self.instance_of(v, false)? } {
            return Err(EncodeError::Type(format!(
                "{path} is a Set, which has no msgpack form here; pass [...set]"
            )));
        }
        self.ancestors.push((v, path.len()));
        let mut keys = ptr::null_mut();
        ok(unsafe {
            sys::napi_get_all_property_names(
                self.env,
                v,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings,
                &mut keys,
            )
        })?;
        let mut n = 0u32;
        ok(unsafe { sys::napi_get_array_length(self.env, keys, &mut n) })?;
        crate::wire::write::write_map_len(&mut self.out, n as usize);
        let base = path.len();
        for i in 0..n {
            let mut key = ptr::null_mut();
            ok(unsafe { sys::napi_get_element(self.env, keys, i, &mut key) })?;
            let name = unsafe { self.string(key)? };
            let mut item = ptr::null_mut();
            ok(unsafe { sys::napi_get_property(self.env, v, key, &mut item) })?;
            self.str(&name);
            path.truncate(base);
            path.push('.');
            path.push_str(&name);
            unsafe { self.value(item, depth + 1, path)? };
        }
        path.truncate(base);
        self.ancestors.pop();
        Ok(())
    }

    /// The error for `v`, at `path`, one level deeper than allowed: a cycle
    /// when an object on the way down to it is met again (named once, where
    /// it first refers back), else the depth.
    unsafe fn too_deep(&self, v: sys::napi_value, path: &str) -> Enc<EncodeError> {
        let mut chain = self.ancestors.clone();
        chain.push((v, path.len()));
        for (j, &(later, later_len)) in chain.iter().enumerate().skip(1) {
            for &(earlier, earlier_len) in &chain[..j] {
                let mut same = false;
                ok(unsafe { sys::napi_strict_equals(self.env, earlier, later, &mut same) })?;
                if same {
                    return Ok(EncodeError::Type(format!(
                        "{} refers back to {} (the value contains a cycle)",
                        &path[..later_len],
                        &path[..earlier_len]
                    )));
                }
            }
        }
        Ok(EncodeError::Type(format!(
            "{path} nests deeper than {} levels",
            self.max_depth
        )))
    }
}

/// msgpack timestamp (ext -1) of a millisecond time, in its smallest form.
fn write_timestamp(out: &mut Vec<u8>, ms: f64) {
    let secs = (ms / 1000.0).floor();
    let nanos = ((ms - secs * 1000.0) * 1_000_000.0)
        .round()
        .clamp(0.0, 999_999_999.0) as u32;
    let secs = secs as i64;
    if nanos == 0 && (0..=u32::MAX as i64).contains(&secs) {
        out.extend_from_slice(&[0xd6, 0xff]);
        out.extend_from_slice(&(secs as u32).to_be_bytes());
    } else if (0..1i64 << 34).contains(&secs) {
        out.extend_from_slice(&[0xd7, 0xff]);
        out.extend_from_slice(&((u64::from(nanos) << 34) | secs as u64).to_be_bytes());
    } else {
        out.extend_from_slice(&[0xc7, 12, 0xff]);
        out.extend_from_slice(&nanos.to_be_bytes());
        out.extend_from_slice(&secs.to_be_bytes());
    }
}

// ---- msgpack → JavaScript ----------------------------------------------------

pub type Dec<T> = Result<T, sys::napi_status>;

fn st(status: sys::napi_status) -> Dec<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(status)
    }
}

/// Creates a JavaScript string.
///
/// # Safety
/// `env` must be the current call's environment.
pub unsafe fn js_string(env: sys::napi_env, s: &str) -> Dec<sys::napi_value> {
    let mut v = ptr::null_mut();
    st(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) })?;
    Ok(v)
}

/// Decodes one msgpack value (bytes we stored or received, already bounded
/// in size and depth) into a JavaScript value. Bytes that are not a valid
/// value decode to `undefined` rather than failing the whole batch.
///
/// # Safety
/// `env` must be the current call's environment.
pub unsafe fn decode(env: sys::napi_env, bytes: &[u8]) -> Dec<sys::napi_value> {
    let mut r = Reader::new(bytes);
    match unsafe { decode_one(env, &mut r) } {
        Ok(v) => Ok(v),
        Err(DecodeFail::Napi(s)) => Err(s),
        Err(DecodeFail::Data) => {
            let mut v = ptr::null_mut();
            st(unsafe { sys::napi_get_undefined(env, &mut v) })?;
            Ok(v)
        }
    }
}

enum DecodeFail {
    Napi(sys::napi_status),
    Data,
}

impl From<crate::wire::DecodeError> for DecodeFail {
    fn from(_: crate::wire::DecodeError) -> Self {
        DecodeFail::Data
    }
}

fn nst(status: sys::napi_status) -> Result<(), DecodeFail> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(DecodeFail::Napi(status))
    }
}

/// A msgpack number as JavaScript sees it: a Number, or a BigInt beyond 2^53.
enum Scalar {
    Number(f64),
    Unsigned(u64),
    Signed(i64),
}

/// How JavaScript sees a msgpack number.
fn scalar(n: Number) -> Scalar {
    const SAFE: u64 = (1 << 53) - 1;
    match n {
        Number::Float(f) => Scalar::Number(f),
        Number::Uint(n) if n <= SAFE => Scalar::Number(n as f64),
        Number::Uint(n) => Scalar::Unsigned(n),
        Number::Int(n) if n.unsigned_abs() <= SAFE => Scalar::Number(n as f64),
        Number::Int(n) => Scalar::Signed(n),
    }
}

/// The value as a JavaScript Number when the bytes are exactly one number
/// that needs no BigInt: events carry those without creating a JS value.
pub fn as_number(bytes: &[u8]) -> Option<f64> {
    let mut r = Reader::new(bytes);
    let n = r.number().ok()?;
    if !r.at_end() {
        return None;
    }
    match scalar(n) {
        Scalar::Number(n) => Some(n),
        _ => None,
    }
}

unsafe fn decode_one(env: sys::napi_env, r: &mut Reader) -> Result<sys::napi_value, DecodeFail> {
    let mut v = ptr::null_mut();
    match r.peek_kind()? {
        Kind::Nil => {
            r.skip()?;
            nst(unsafe { sys::napi_get_null(env, &mut v) })?;
        }
        Kind::Bool => {
            let b = r.bool()?;
            nst(unsafe { sys::napi_get_boolean(env, b, &mut v) })?;
        }
        Kind::Int | Kind::Float => match scalar(r.number()?) {
            Scalar::Number(n) => nst(unsafe { sys::napi_create_double(env, n, &mut v) })?,
            Scalar::Unsigned(n) => nst(unsafe { sys::napi_create_bigint_uint64(env, n, &mut v) })?,
            Scalar::Signed(n) => nst(unsafe { sys::napi_create_bigint_int64(env, n, &mut v) })?,
        },
        Kind::Str => {
            let s = r.str_bytes()?;
            nst(unsafe {
                sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v)
            })?;
        }
        Kind::Bin => v = unsafe { buffer(env, r.bin()?)? },
        Kind::Array => {
            let n = r.array_len()?;
            nst(unsafe { sys::napi_create_array_with_length(env, n, &mut v) })?;
            for i in 0..n {
                let item = unsafe { decode_one(env, r)? };
                nst(unsafe { sys::napi_set_element(env, v, i as u32, item) })?;
            }
        }
        Kind::Map => {
            let n = r.map_len()?;
            nst(unsafe { sys::napi_create_object(env, &mut v) })?;
            for _ in 0..n {
                let key = unsafe { map_key(env, r)? };
                let item = unsafe { decode_one(env, r)? };
                unsafe { set_own(env, v, key, item)? };
            }
        }
        Kind::Ext => {
            let (kind, data) = r.ext()?;
            if kind == -1 {
                if let Some(ms) = timestamp_ms(data) {
                    nst(unsafe { sys::napi_create_date(env, ms, &mut v) })?;
                    return Ok(v);
                }
            }
            nst(unsafe { sys::napi_create_object(env, &mut v) })?;
            let mut t = ptr::null_mut();
            nst(unsafe { sys::napi_create_int32(env, i32::from(kind), &mut t) })?;
            nst(unsafe { sys::napi_set_named_property(env, v, c"type".as_ptr(), t) })?;
            let d = unsafe { buffer(env, data)? };
            nst(unsafe { sys::napi_set_named_property(env, v, c"data".as_ptr(), d) })?;
        }
    }
    Ok(v)
}

unsafe fn buffer(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value, DecodeFail> {
    let mut v = ptr::null_mut();
    let mut data = ptr::null_mut();
    nst(unsafe {
        sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v)
    })?;
    Ok(v)
}

/// Map keys become property names: strings as they are, anything else in
/// its JavaScript string form.
unsafe fn map_key(env: sys::napi_env, r: &mut Reader) -> Result<sys::napi_value, DecodeFail> {
    if r.peek_kind()? == Kind::Str {
        let s = r.str()?;
        let mut v = ptr::null_mut();
        nst(unsafe {
            sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v)
        })?;
        return Ok(v);
    }
    let key = unsafe { decode_one(env, r)? };
    let mut v = ptr::null_mut();
    nst(unsafe { sys::napi_coerce_to_string(env, key, &mut v) })?;
    Ok(v)
}

/// Sets an own data property; `__proto__` becomes an ordinary property
/// instead of replacing the object's prototype.
unsafe fn set_own(
    env: sys::napi_env,
    obj: sys::napi_value,
    key: sys::napi_value,
    value: sys::napi_value,
) -> Result<(), DecodeFail> {
    let desc = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    nst(unsafe { sys::napi_define_properties(env, obj, 1, &desc) })
}

/// The msgpack timestamp (ext -1) in `data`, in milliseconds.
fn timestamp_ms(data: &[u8]) -> Option<f64> {
    match data.len() {
        4 => Some(be_at(data, 0, 4)? as f64 * 1000.0),
        8 => {
            let v = be_at(data, 0, 8)?;
            let nanos = (v >> 34) as f64;
            let secs = (v & ((1 << 34) - 1)) as f64;
            Some(secs * 1000.0 + nanos / 1_000_000.0)
        }
        12 => {
            let nanos = be_at(data, 0, 4)? as f64;
            let secs = be_at(data, 4, 8)? as i64 as f64;
            Some(secs * 1000.0 + nanos / 1_000_000.0)
        }
        _ => None,
    }
}
