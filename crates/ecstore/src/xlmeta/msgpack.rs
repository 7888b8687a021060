//! A bounded, zero-copy MessagePack reader for untrusted xl.meta files: every declared
//! length is checked against the bytes that remain before anything is allocated, and
//! nesting is limited, so no file can make the reader allocate absurdly or recurse without
//! end. Errors carry the byte offset of the problem. This module must never panic.

use std::fmt;

/// Deepest nesting accepted (xl.meta needs about 4 levels).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
    Ext(i8, &'a [u8]),
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bin(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
    /// The value of `key` in a map with string keys.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k.as_bytes() == Some(key.as_bytes())).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub offset: usize,
    pub problem: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.problem)
    }
}

/// A cursor over a buffer that knows its absolute offset in the file.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn err<T>(&self, problem: impl Into<String>) -> Result<T, Error> {
        Err(Error { offset: self.offset(), problem: problem.into() })
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let left = self.buf.len().saturating_sub(self.pos);
        if n > left {
            return self.err(format!("truncated: {n} bytes declared, {left} left"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Error> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    /// Reads one value.
    pub fn value(&mut self) -> Result<Value<'a>, Error> {
        self.value_at(0)
    }

    fn len_checked(&self, n: u64, min_each: usize) -> Result<usize, Error> {
        let left = self.buf.len().saturating_sub(self.pos) as u64;
        if n.saturating_mul(min_each as u64) > left {
            return self.err(format!("absurd length {n}: only {left} bytes left"));
        }
        Ok(n as usize)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        let at = self.offset();
        let m = self.u8()?;
        let v = match m {
            0x00..=0x7f => Value::UInt(u64::from(m)),
            0xe0..=0xff => Value::Int(i64::from(m as i8)),
            0x80..=0x8f => self.map(u64::from(m & 0x0f), depth)?,
            0x90..=0x9f => self.array(u64::from(m & 0x0f), depth)?,
            0xa0..=0xbf => Value::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (m - 0xc4))?;
                let n = self.len_checked(n, 1)?;
                Value::Bin(self.take(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.be(1 << (m - 0xc7))?;
                let n = self.len_checked(n, 1)?;
                let t = self.u8()? as i8;
                Value::Ext(t, self.take(n)?)
            }
            0xca => Value::F32(f32::from_bits(self.be(4)? as u32)),
            0xcb => Value::F64(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::UInt(self.be(1 << (m - 0xcc))?),
            0xd0 => Value::Int(i64::from(self.u8()? as i8)),
            0xd1 => Value::Int(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Int(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Int(self.be(8)? as i64),
            0xd4..=0xd8 => {
                let t = self.u8()? as i8;
                Value::Ext(t, self.take(1 << (m - 0xd4))?)
            }
            0xd9..=0xdb => {
                let n = self.be(1 << (m - 0xd9))?;
                let n = self.len_checked(n, 1)?;
                Value::Str(self.take(n)?)
            }
            0xdc | 0xdd => {
                let n = self.be(if m == 0xdc { 2 } else { 4 })?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.be(if m == 0xde { 2 } else { 4 })?;
                self.map(n, depth)?
            }
            0xc1 => return Err(Error { offset: at, problem: "invalid MessagePack marker 0xc1".into() }),
        };
        Ok(v)
    }

    fn array(&mut self, n: u64, depth: usize) -> Result<Value<'a>, Error> {
        let n = self.len_checked(n, 1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.value_at(depth + 1)?);
        }
        Ok(Value::Array(v))
    }

    fn map(&mut self, n: u64, depth: usize) -> Result<Value<'a>, Error> {
        let n = self.len_checked(n, 2)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value_at(depth + 1)?;
            let val = self.value_at(depth + 1)?;
            v.push((k, val));
        }
        Ok(Value::Map(v))
    }

    /// Reads a `bin` (any width) and returns it with its absolute offset.
    pub fn bin(&mut self) -> Result<(&'a [u8], usize), Error> {
        let at = self.offset();
        match self.value()? {
            Value::Bin(b) => Ok((b, at + (self.offset() - at - b.len()))),
            _ => Err(Error { offset: at, problem: "expected a bin value".into() }),
        }
    }

    pub fn uint(&mut self) -> Result<u64, Error> {
        let at = self.offset();
        match self.value()? {
            Value::UInt(u) => Ok(u),
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err(Error { offset: at, problem: "expected an unsigned integer".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lengths_are_errors_not_allocations() {
        // bin32 claiming 4 GiB, array32 claiming 2^32-1 elements, map16 with nothing after.
        for bad in
            [&[0xc6, 0xff, 0xff, 0xff, 0xff][..], &[0xdd, 0xff, 0xff, 0xff, 0xff], &[0xde, 0x00, 0x10], &[0xc1], &[]]
        {
            let e = Reader::new(bad, 100).value().unwrap_err();
            assert!(e.offset >= 100, "{e}");
        }
        // Deep nesting.
        let deep = vec![0x91u8; 1000];
        assert!(Reader::new(&deep, 0).value().unwrap_err().problem.contains("deep"));
    }

    #[test]
    fn reads_scalars_and_containers() {
        let buf = [0x82, 0xa1, b'a', 0xcd, 0x01, 0x00, 0xa1, b'b', 0x92, 0xff, 0xc4, 0x02, 9, 8];
        let v = Reader::new(&buf, 0).value().unwrap();
        assert_eq!(v.get("a").and_then(Value::as_int), Some(256));
        assert_eq!(v.get("b"), Some(&Value::Array(vec![Value::Int(-1), Value::Bin(&[9, 8])])));
    }
}
