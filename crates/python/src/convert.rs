//! Python values to JSON (what `log` writes) and records back to Python
//! (what the reads return).
//!
//! A value is JSON when `json.dumps` would write it: `None`, `bool`,
//! `int`, `float`, `str`, lists and tuples of JSON, dicts of JSON whose
//! keys are `str` (or `int`, `float`, `bool`, `None`, written as
//! `json.dumps` writes them). Differences from `json.dumps`, each a
//! decision (docs/python.md): a non-finite float is written as `null`
//! (decision 2), an `int` outside the 64-bit range is not JSON here, and
//! nesting deeper than [`MAX_DEPTH`] is not JSON.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// The deepest nesting of lists and dicts accepted as JSON (a cycle, or a
/// hostile depth, ends here instead of in a stack overflow).
pub const MAX_DEPTH: usize = 256;

/// What to do with a part of a value that is not JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotJson {
    /// Give up: the caller decides (an extra field becomes `str(value)`,
    /// as the original did).
    Fail,
    /// Write that part as its `str()` (the original's `default=str`,
    /// which applied to the known fields `files` and `config`).
    Str,
}

/// Converts `obj` to JSON; `Ok(None)` when it is not JSON and `mode` is
/// [`NotJson::Fail`]. Errors are Python's (a `__str__` that raised).
pub fn to_json(obj: &Bound<'_, PyAny>, mode: NotJson) -> PyResult<Option<Value>> {
    convert(obj, mode, 0)
}

fn convert(obj: &Bound<'_, PyAny>, mode: NotJson, depth: usize) -> PyResult<Option<Value>> {
    if let Some(v) = scalar(obj)? {
        return Ok(Some(v));
    }
    if depth < MAX_DEPTH {
        if let Ok(l) = obj.downcast::<PyList>() {
            return seq(l.iter(), mode, depth);
        }
        if let Ok(t) = obj.downcast::<PyTuple>() {
            return seq(t.iter(), mode, depth);
        }
        if let Ok(d) = obj.downcast::<PyDict>() {
            return dict(d, mode, depth);
        }
    }
    match mode {
        NotJson::Fail => Ok(None),
        NotJson::Str => Ok(Some(Value::String(obj.str()?.to_string()))),
    }
}

/// `None`, `bool`, `int` (64-bit), `float`, `str`; `None` otherwise.
fn scalar(obj: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    if obj.is_none() {
        return Ok(Some(Value::Null));
    }
    if let Ok(b) = obj.downcast::<PyBool>() {
        return Ok(Some(Value::Bool(b.is_true())));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(Some(Value::String(s.to_cow()?.into_owned())));
    }
    if obj.downcast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Some(Value::from(i)));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Some(Value::from(u)));
        }
        return Ok(None);
    }
    if let Ok(f) = obj.downcast::<PyFloat>() {
        let x = f.value();
        return Ok(Some(Number::from_f64(x).map_or(Value::Null, Value::Number)));
    }
    Ok(None)
}

fn seq<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    mode: NotJson,
    depth: usize,
) -> PyResult<Option<Value>> {
    let mut out = Vec::new();
    for item in items {
        match convert(&item, mode, depth + 1)? {
            Some(v) => out.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(Value::Array(out)))
}

fn dict(d: &Bound<'_, PyDict>, mode: NotJson, depth: usize) -> PyResult<Option<Value>> {
    let mut out = Map::new();
    for (k, v) in d.iter() {
        let Some(key) = dict_key(&k)? else {
            match mode {
                NotJson::Fail => return Ok(None),
                NotJson::Str => {
                    let key = k.str()?.to_string();
                    insert(&mut out, key, &v, mode, depth)?;
                    continue;
                }
            }
        };
        if !insert(&mut out, key, &v, mode, depth)? {
            return Ok(None);
        }
    }
    Ok(Some(Value::Object(out)))
}

/// Inserts `v` under `key`; `false` when `v` is not JSON.
fn insert(
    out: &mut Map<String, Value>,
    key: String,
    v: &Bound<'_, PyAny>,
    mode: NotJson,
    depth: usize,
) -> PyResult<bool> {
    match convert(v, mode, depth + 1)? {
        Some(v) => {
            out.insert(key, v);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A dict key as `json.dumps` writes it; `None` for a key it refuses.
fn dict_key(k: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if let Ok(s) = k.downcast::<PyString>() {
        return Ok(Some(s.to_cow()?.into_owned()));
    }
    if k.is_none() {
        return Ok(Some("null".to_owned()));
    }
    if let Ok(b) = k.downcast::<PyBool>() {
        return Ok(Some(if b.is_true() { "true" } else { "false" }.to_owned()));
    }
    if k.downcast::<PyInt>().is_ok() || k.downcast::<PyFloat>().is_ok() {
        return Ok(Some(k.repr()?.to_string()));
    }
    Ok(None)
}

/// A JSON value as Python: what `json.loads` gives.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            Ok(l.into_any())
        }
        Value::Object(m) => Ok(map_to_py(py, m)?.into_any()),
    }
}

/// A record (a JSON object) as a Python dict, fields in line order.
pub fn map_to_py<'py>(py: Python<'py>, m: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, x) in m {
        d.set_item(k, to_py(py, x)?)?;
    }
    Ok(d)
}
