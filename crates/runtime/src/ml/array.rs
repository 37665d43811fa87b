//! The plain n-dimensional arrays the ONNX-ML kernels read and write: row-major data with a
//! shape, one element type per array. The engine adapters convert to and from these, so the
//! kernels never see a graph engine's tensor type.

/// The element types the ONNX-ML operators produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    F32,
    I64,
    Str,
}

/// Row-major elements of one type.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

/// An n-dimensional array.
// Invariant: the product of `shape` equals the number of elements in `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Array {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { shape, data: Data::F32(data) }
    }

    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { shape, data: Data::I64(data) }
    }

    pub fn strings(shape: Vec<usize>, data: Vec<String>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { shape, data: Data::Str(data) }
    }

    pub fn element_type(&self) -> ElementType {
        match self.data {
            Data::F32(_) => ElementType::F32,
            Data::I64(_) => ElementType::I64,
            Data::Str(_) => ElementType::Str,
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows (the first dimension; 1 for a scalar) and the elements per row.
    pub fn rows_and_width(&self) -> (usize, usize) {
        match self.shape.split_first() {
            None => (1, 1),
            Some((rows, rest)) => (*rows, rest.iter().product()),
        }
    }

    /// Appends the rows of `other` (same type and trailing dimensions) after this array's.
    pub fn append_rows(&mut self, other: Array) -> Result<(), String> {
        if self.shape.len() != other.shape.len() || self.shape.get(1..) != other.shape.get(1..) || self.shape.is_empty()
        {
            return Err(format!("cannot stack outputs of shapes {:?} and {:?}", self.shape, other.shape));
        }
        match (&mut self.data, other.data) {
            (Data::F32(a), Data::F32(b)) => a.extend(b),
            (Data::I64(a), Data::I64(b)) => a.extend(b),
            (Data::Str(a), Data::Str(b)) => a.extend(b),
            _ => return Err("cannot stack outputs of different element types".into()),
        }
        self.shape[0] += other.shape[0];
        Ok(())
    }

    /// The elements as `f32`, converting integers as ONNX-ML operators do.
    pub fn to_f32(&self) -> Result<std::borrow::Cow<'_, [f32]>, String> {
        match &self.data {
            Data::F32(v) => Ok(std::borrow::Cow::Borrowed(v)),
            Data::I64(v) => Ok(std::borrow::Cow::Owned(v.iter().map(|&x| x as f32).collect())),
            Data::Str(_) => Err("expected a numeric tensor, got strings".into()),
        }
    }
}
