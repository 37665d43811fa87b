//! Row-wise preprocessing operators: `Scaler`, `Normalizer`, `Imputer`, `Binarizer`,
//! `OneHotEncoder`, `LabelEncoder`, `FeatureVectorizer`.

use std::collections::HashMap;

use super::attributes::Attributes;
use super::{numeric_rows, rows_and_width, width_of, Array, Data, ElementType, Kernel};
use crate::error::Error;

/// Checks that a per-feature parameter list has 1 entry (broadcast) or `width` entries.
fn per_feature(name: &str, len: usize, width: usize) -> Result<(), String> {
    if len == 1 || len == width {
        Ok(())
    } else {
        Err(format!("{name} has {len} values; the input has {width} features"))
    }
}

fn at(values: &[f32], i: usize) -> f32 {
    if values.len() == 1 {
        values[0]
    } else {
        values[i]
    }
}

/// `Y = (X - offset) * scale`, per feature.
#[derive(Debug)]
pub struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaler {
    pub fn parse(a: &Attributes) -> Result<Scaler, Error> {
        let offset = a.floats("offset");
        let scale = a.floats("scale");
        let offset = if offset.is_empty() { vec![0.0] } else { offset };
        let scale = if scale.is_empty() { vec![1.0] } else { scale };
        Ok(Scaler { offset, scale })
    }
}

impl Kernel for Scaler {
    fn op_type(&self) -> &'static str {
        "Scaler"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        let width = width_of(&inputs[0]);
        per_feature("offset", self.offset.len(), width)?;
        per_feature("scale", self.scale.len(), width)?;
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "Scaler")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (_, width) = rows_and_width(shape);
        per_feature("offset", self.offset.len(), width)?;
        per_feature("scale", self.scale.len(), width)?;
        // Per-feature parameters, broadcast once; rows are then a zip (no division per value).
        let offset: Vec<f32> = (0..width).map(|i| at(&self.offset, i)).collect();
        let scale: Vec<f32> = (0..width).map(|i| at(&self.scale, i)).collect();
        let mut y = Vec::with_capacity(x.len());
        for row in x.chunks(width.max(1)) {
            y.extend(row.iter().zip(&offset).zip(&scale).map(|((&v, &o), &s)| (v - o) * s));
        }
        Ok(vec![Array::f32(shape.to_vec(), y)])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

/// Divides each row by its maximum, L1 norm or L2 norm.
#[derive(Debug)]
pub struct Normalizer {
    norm: Norm,
}

impl Normalizer {
    pub fn parse(a: &Attributes) -> Result<Normalizer, Error> {
        let norm = match a.string_or("norm", "MAX")?.as_str() {
            "MAX" => Norm::Max,
            "L1" => Norm::L1,
            "L2" => Norm::L2,
            other => return Err(a.error(format!("norm `{other}` is not one of MAX, L1, L2"))),
        };
        Ok(Normalizer { norm })
    }
}

impl Kernel for Normalizer {
    fn op_type(&self) -> &'static str {
        "Normalizer"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "Normalizer")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (_, width) = rows_and_width(shape);
        let mut y = x.to_vec();
        for row in y.chunks_mut(width.max(1)) {
            match self.norm {
                // The signed maximum, NaN skipped, as onnxruntime.
                Norm::Max => {
                    let max = row.iter().copied().filter(|v| !v.is_nan()).fold(f32::MIN, f32::max);
                    if max != 0.0 {
                        row.iter_mut().for_each(|v| *v /= max);
                    }
                }
                Norm::L1 => {
                    let sum: f32 = row.iter().map(|v| v.abs()).sum();
                    if sum != 0.0 {
                        row.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                Norm::L2 => {
                    let sum: f32 = row.iter().map(|v| v * v).sum();
                    if sum != 0.0 {
                        row.iter_mut().for_each(|v| *v = v.signum() * (*v * *v / sum).sqrt());
                    }
                }
            }
        }
        Ok(vec![Array::f32(shape.to_vec(), y)])
    }
}

/// Replaces a sentinel value (NaN by default in scikit-learn exports) per feature.
#[derive(Debug)]
pub struct Imputer {
    imputed: Vec<f32>,
    replaced: f32,
    imputed_int: Vec<i64>,
    replaced_int: i64,
}

impl Imputer {
    pub fn parse(a: &Attributes) -> Result<Imputer, Error> {
        let imputer = Imputer {
            imputed: a.floats("imputed_value_floats"),
            replaced: a.float("replaced_value_float").unwrap_or(0.0),
            imputed_int: a.ints("imputed_value_int64s"),
            replaced_int: a.int("replaced_value_int64").unwrap_or(0),
        };
        if imputer.imputed.is_empty() && imputer.imputed_int.is_empty() {
            return Err(a.error("needs imputed_value_floats or imputed_value_int64s"));
        }
        Ok(imputer)
    }
}

impl Kernel for Imputer {
    fn op_type(&self) -> &'static str {
        "Imputer"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![if self.imputed.is_empty() { ElementType::I64 } else { ElementType::F32 }]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let input = &inputs[0];
        let (_, width) = input.rows_and_width();
        match &input.data {
            Data::I64(x) if !self.imputed_int.is_empty() => {
                // onnxruntime uses the first value for all features when the count differs.
                let per = self.imputed_int.len() == width;
                let pick = |i: usize| if per { self.imputed_int[i] } else { self.imputed_int[0] };
                let y = x.iter().enumerate().map(|(i, &v)| if v == self.replaced_int { pick(i % width) } else { v });
                Ok(vec![Array::i64(input.shape.clone(), y.collect())])
            }
            _ => {
                if self.imputed.is_empty() {
                    return Err("imputed_value_int64s needs an int64 input".into());
                }
                let per = self.imputed.len() == width;
                let x = input.to_f32()?;
                let replace_nan = self.replaced.is_nan();
                let y = x.iter().enumerate().map(|(i, &v)| {
                    let hit = if replace_nan { v.is_nan() } else { v == self.replaced };
                    if hit {
                        if per {
                            self.imputed[i % width]
                        } else {
                            self.imputed[0]
                        }
                    } else {
                        v
                    }
                });
                Ok(vec![Array::f32(input.shape.clone(), y.collect())])
            }
        }
    }
}

/// `1` where the value is above the threshold, else `0`.
#[derive(Debug)]
pub struct Binarizer {
    threshold: f32,
}

impl Binarizer {
    pub fn parse(a: &Attributes) -> Result<Binarizer, Error> {
        Ok(Binarizer { threshold: a.float("threshold").unwrap_or(0.0) })
    }
}

impl Kernel for Binarizer {
    fn op_type(&self) -> &'static str {
        "Binarizer"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "Binarizer")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (_, _) = rows_and_width(shape);
        if x.iter().any(|v| v.is_nan()) {
            return Err("the input has a NaN (Binarizer does not accept missing values)".into());
        }
        let y = x.iter().map(|&v| if v > self.threshold { 1.0 } else { 0.0 }).collect();
        Ok(vec![Array::f32(shape.to_vec(), y)])
    }
}

#[derive(Debug)]
enum Categories {
    Ints(HashMap<i64, usize>),
    Strings(HashMap<String, usize>),
}

/// One-hot encodes each value: the output gains a last dimension of one slot per category.
#[derive(Debug)]
pub struct OneHotEncoder {
    categories: Categories,
    count: usize,
    /// Unknown values give all zeros (`zeros = 1`) instead of an error.
    zeros: bool,
}

impl OneHotEncoder {
    pub fn parse(a: &Attributes) -> Result<OneHotEncoder, Error> {
        let ints = a.ints("cats_int64s");
        let strings = a.strings("cats_strings")?;
        let (categories, count) = if !ints.is_empty() {
            let n = ints.len();
            (Categories::Ints(ints.into_iter().enumerate().map(|(i, c)| (c, i)).collect()), n)
        } else if !strings.is_empty() {
            let n = strings.len();
            (Categories::Strings(strings.into_iter().enumerate().map(|(i, c)| (c, i)).collect()), n)
        } else {
            return Err(a.error("needs cats_int64s or cats_strings"));
        };
        Ok(OneHotEncoder { categories, count, zeros: a.int("zeros").unwrap_or(1) != 0 })
    }
}

impl Kernel for OneHotEncoder {
    fn op_type(&self) -> &'static str {
        "OneHotEncoder"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        let mut dims = inputs[0].clone();
        dims.push(self.count);
        Ok(vec![dims])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let input = &inputs[0];
        let mut y = vec![0.0f32; input.len() * self.count];
        let mut set = |i: usize, slot: Option<usize>, shown: &dyn std::fmt::Display| -> Result<(), String> {
            match slot {
                Some(s) => y[i * self.count + s] = 1.0,
                None if self.zeros => {}
                None => return Err(format!("unknown category {shown} (zeros=0 makes it an error)")),
            }
            Ok(())
        };
        match (&self.categories, &input.data) {
            (Categories::Strings(map), Data::Str(values)) => {
                for (i, v) in values.iter().enumerate() {
                    set(i, map.get(v).copied(), v)?;
                }
            }
            (Categories::Ints(map), Data::I64(values)) => {
                for (i, v) in values.iter().enumerate() {
                    set(i, map.get(v).copied(), v)?;
                }
            }
            (Categories::Ints(map), Data::F32(values)) => {
                for (i, v) in values.iter().enumerate() {
                    let key = if v.is_nan() { i64::MIN } else { *v as i64 };
                    set(i, map.get(&key).copied(), v)?;
                }
            }
            _ => return Err("the input type does not match the category type".into()),
        }
        let mut shape = input.shape.clone();
        shape.push(self.count);
        Ok(vec![Array::f32(shape, y)])
    }
}

#[derive(Debug)]
enum Table {
    StringToInt(HashMap<String, i64>, i64),
    IntToString(HashMap<i64, String>, String),
    StringToString(HashMap<String, String>, String),
    IntToInt(HashMap<i64, i64>, i64),
    FloatToInt(Vec<(f32, i64)>, i64),
    StringToFloat(HashMap<String, f32>, f32),
    IntToFloat(HashMap<i64, f32>, f32),
    FloatToFloat(Vec<(f32, f32)>, f32),
}

/// A key → value table where the first of duplicate keys wins (ai.onnx.ml opset 2 and later).
fn first_wins<K: std::hash::Hash + Eq, V>(pairs: impl Iterator<Item = (K, V)>) -> HashMap<K, V> {
    let mut map = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    map
}

/// Maps values through a key → value table, with a default for unknown keys.
#[derive(Debug)]
pub struct LabelEncoder {
    table: Table,
}

impl LabelEncoder {
    pub fn parse(a: &Attributes) -> Result<LabelEncoder, Error> {
        let default_int = a.int("default_int64").unwrap_or(-1);
        let default_string = a.string_or("default_string", "_Unused")?;
        let default_float = a.float("default_float").unwrap_or(-0.0);
        // ai.onnx.ml opset 1: `classes_strings`, direction given by the input type at run time;
        // represented here as string → index, with the reverse built on demand.
        let classes = a.strings("classes_strings")?;
        if !classes.is_empty() {
            let map = classes.into_iter().enumerate().map(|(i, c)| (c, i as i64)).collect();
            return Ok(LabelEncoder { table: Table::StringToInt(map, default_int) });
        }
        let key_strings = a.strings("keys_strings")?;
        let key_ints = a.ints("keys_int64s");
        let key_floats = a.floats("keys_floats");
        let value_strings = a.strings("values_strings")?;
        let value_ints = a.ints("values_int64s");
        let value_floats = a.floats("values_floats");
        let pairs = |keys: usize, values: usize| -> Result<(), Error> {
            if keys == values {
                Ok(())
            } else {
                Err(a.error(format!("{keys} keys but {values} values")))
            }
        };
        let table = match (
            !key_strings.is_empty(),
            !key_ints.is_empty(),
            !key_floats.is_empty(),
            !value_strings.is_empty(),
            !value_ints.is_empty(),
            !value_floats.is_empty(),
        ) {
            (true, _, _, _, true, _) => {
                pairs(key_strings.len(), value_ints.len())?;
                Table::StringToInt(first_wins(key_strings.into_iter().zip(value_ints)), default_int)
            }
            (true, _, _, true, _, _) => {
                pairs(key_strings.len(), value_strings.len())?;
                Table::StringToString(first_wins(key_strings.into_iter().zip(value_strings)), default_string)
            }
            (true, _, _, _, _, true) => {
                pairs(key_strings.len(), value_floats.len())?;
                Table::StringToFloat(first_wins(key_strings.into_iter().zip(value_floats)), default_float)
            }
            (_, true, _, true, _, _) => {
                pairs(key_ints.len(), value_strings.len())?;
                Table::IntToString(first_wins(key_ints.into_iter().zip(value_strings)), default_string)
            }
            (_, true, _, _, true, _) => {
                pairs(key_ints.len(), value_ints.len())?;
                Table::IntToInt(first_wins(key_ints.into_iter().zip(value_ints)), default_int)
            }
            (_, true, _, _, _, true) => {
                pairs(key_ints.len(), value_floats.len())?;
                Table::IntToFloat(first_wins(key_ints.into_iter().zip(value_floats)), default_float)
            }
            (_, _, true, _, true, _) => {
                pairs(key_floats.len(), value_ints.len())?;
                Table::FloatToInt(key_floats.into_iter().zip(value_ints).collect(), default_int)
            }
            (_, _, true, _, _, true) => {
                pairs(key_floats.len(), value_floats.len())?;
                Table::FloatToFloat(key_floats.into_iter().zip(value_floats).collect(), default_float)
            }
            _ => return Err(a.error("needs a keys_* and a values_* attribute (or classes_strings)")),
        };
        Ok(LabelEncoder { table })
    }
}

impl Kernel for LabelEncoder {
    fn op_type(&self) -> &'static str {
        "LabelEncoder"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![match &self.table {
            Table::StringToInt(..) | Table::IntToInt(..) | Table::FloatToInt(..) => ElementType::I64,
            Table::IntToString(..) | Table::StringToString(..) => ElementType::Str,
            Table::StringToFloat(..) | Table::IntToFloat(..) | Table::FloatToFloat(..) => ElementType::F32,
        }]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let input = &inputs[0];
        let shape = input.shape.clone();
        let float_key = |table: &[(f32, i64)], v: f32| table.iter().find(|(k, _)| *k == v).map(|(_, o)| *o);
        Ok(vec![match (&self.table, &input.data) {
            (Table::StringToInt(m, d), Data::Str(x)) => {
                Array::i64(shape, x.iter().map(|v| *m.get(v).unwrap_or(d)).collect())
            }
            (Table::StringToString(m, d), Data::Str(x)) => {
                Array::strings(shape, x.iter().map(|v| m.get(v).unwrap_or(d).clone()).collect())
            }
            (Table::StringToFloat(m, d), Data::Str(x)) => {
                Array::f32(shape, x.iter().map(|v| *m.get(v).unwrap_or(d)).collect())
            }
            (Table::IntToString(m, d), Data::I64(x)) => {
                Array::strings(shape, x.iter().map(|v| m.get(v).unwrap_or(d).clone()).collect())
            }
            (Table::IntToInt(m, d), Data::I64(x)) => {
                Array::i64(shape, x.iter().map(|v| *m.get(v).unwrap_or(d)).collect())
            }
            (Table::IntToFloat(m, d), Data::I64(x)) => {
                Array::f32(shape, x.iter().map(|v| *m.get(v).unwrap_or(d)).collect())
            }
            (Table::FloatToInt(t, d), Data::F32(x)) => {
                Array::i64(shape, x.iter().map(|&v| float_key(t, v).unwrap_or(*d)).collect())
            }
            (Table::FloatToFloat(t, d), Data::F32(x)) => {
                Array::f32(shape, x.iter().map(|&v| t.iter().find(|(k, _)| *k == v).map_or(*d, |(_, o)| *o)).collect())
            }
            _ => return Err(format!("input type {:?} does not match the table's keys", input.element_type())),
        }])
    }
}

/// Concatenates its inputs' features; each input is cut or zero-padded to its declared size.
#[derive(Debug)]
pub struct FeatureVectorizer {
    dimensions: Vec<usize>,
}

impl FeatureVectorizer {
    pub fn parse(a: &Attributes) -> Result<FeatureVectorizer, Error> {
        let dimensions = a
            .ints("inputdimensions")
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| a.error(format!("negative input dimension {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeatureVectorizer { dimensions })
    }
}

impl Kernel for FeatureVectorizer {
    fn op_type(&self) -> &'static str {
        "FeatureVectorizer"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        if inputs.len() != self.dimensions.len() {
            return Err(format!("{} inputs but {} input dimensions", inputs.len(), self.dimensions.len()));
        }
        Ok(vec![vec![self.dimensions.iter().sum()]])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        if inputs.len() != self.dimensions.len() {
            return Err(format!("{} inputs but {} input dimensions", inputs.len(), self.dimensions.len()));
        }
        let rows = inputs[0].rows_and_width().0;
        let total: usize = self.dimensions.iter().sum();
        let mut y = vec![0.0f32; rows * total];
        let mut offset = 0;
        for (input, &dimension) in inputs.iter().zip(&self.dimensions) {
            let (input_rows, width) = input.rows_and_width();
            if input_rows != rows {
                return Err(format!("inputs have {rows} and {input_rows} rows"));
            }
            let x = input.to_f32()?;
            for r in 0..rows {
                let n = width.min(dimension);
                y[r * total + offset..r * total + offset + n].copy_from_slice(&x[r * width..r * width + n]);
            }
            offset += dimension;
        }
        Ok(vec![Array::f32(vec![rows, total], y)])
    }
}
