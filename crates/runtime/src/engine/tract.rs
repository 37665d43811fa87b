//! The tract graph engine, with the project's `ai.onnx.ml` kernels registered as tract
//! operators. Standard ONNX operators (Gemm, MatMul, Relu, Softmax, Cast, Concat, ...) run on
//! tract's own implementations; every ONNX-ML node runs on a [`Kernel`].

use std::sync::Arc;

use tract_onnx::pb::{ModelProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

use super::{ElementKind, Engine, Feed, GraphInput};
use crate::error::{Error, Result};
use crate::ml::{self, Array, Data, ElementType, Kernel};

/// A model compiled by tract; `run` takes `&self` and is shared by threads without a lock.
pub struct TractEngine {
    plan: Arc<TypedSimplePlan>,
    inputs: Vec<GraphInput>,
}

impl TractEngine {
    pub fn compile(proto: &ModelProto, inputs: &[GraphInput]) -> Result<TractEngine> {
        let mut onnx = tract_onnx::onnx();
        for &op in ml::OPERATORS {
            onnx.op_register.insert(op, build_ml_node);
        }
        onnx.op_register.insert("ArgMax", build_arg_max);
        onnx.op_register.insert(ml::dense::OP_TYPE, build_ml_node);
        let prepare = |e: TractError| Error::Prepare { reason: format!("{e:#}") };
        // Dense layers (MatMul/Gemm by constants, bias, Relu) run fused on the native kernel.
        let rank2: Vec<String> =
            inputs.iter().filter(|i| i.kind == ElementKind::F32 && i.dims.len() == 1).map(|i| i.name.clone()).collect();
        let has_products = proto
            .graph
            .as_ref()
            .is_some_and(|g| g.node.iter().any(|n| matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Sub")));
        let mut fused = None;
        if has_products {
            let mut copy = proto.clone();
            if ml::dense::fuse(&mut copy, &rank2) > 0 {
                fused = Some(copy);
            }
        }
        let proto = fused.as_ref().unwrap_or(proto);
        let mut model = onnx.model_for_proto_model(proto).map_err(prepare)?;
        let batch = model.symbols.sym("N");
        for (i, input) in inputs.iter().enumerate() {
            let mut shape: TVec<TDim> = tvec![batch.clone().into()];
            shape.extend(input.dims.iter().map(|&d| d.to_dim()));
            let fact = InferenceFact::dt_shape(datum_type(input.kind), shape);
            model.set_input_fact(i, fact).map_err(prepare)?;
        }
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(prepare)?;
        Ok(TractEngine { plan, inputs: inputs.to_vec() })
    }
}

impl Engine for TractEngine {
    fn run(&self, inputs: Vec<Feed<'_>>) -> Result<Vec<Array>> {
        let values = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(feed, spec)| feed_tensor(feed, spec.kind).map(IntoTValue::into_tvalue))
            .collect::<TractResult<TVec<TValue>>>()
            .map_err(Error::inference)?;
        let outputs = self.plan.run(values).map_err(|e| Error::inference(format!("{e:#}")))?;
        outputs.iter().map(|t| from_tensor(t).map_err(|e| Error::inference(format!("{e:#}")))).collect()
    }
}

fn datum_type(kind: ElementKind) -> DatumType {
    match kind {
        ElementKind::F32 => DatumType::F32,
        ElementKind::F64 => DatumType::F64,
        ElementKind::I64 => DatumType::I64,
        ElementKind::I32 => DatumType::I32,
        ElementKind::Str => DatumType::String,
    }
}

/// A graph input's tensor, in one copy from the caller's rows.
fn feed_tensor(feed: &Feed<'_>, kind: ElementKind) -> TractResult<Tensor> {
    let shape = &feed.shape;
    match kind {
        ElementKind::F64 => Tensor::from_shape(shape, &feed.data.iter().map(|&x| x as f64).collect::<Vec<_>>()),
        ElementKind::I64 => Tensor::from_shape(shape, &feed.data.iter().map(|&x| x as i64).collect::<Vec<_>>()),
        ElementKind::I32 => Tensor::from_shape(shape, &feed.data.iter().map(|&x| x as i32).collect::<Vec<_>>()),
        ElementKind::Str => bail!("a string input cannot be fed with numbers"),
        ElementKind::F32 => Tensor::from_shape(shape, &feed.data),
    }
}

fn to_tensor(array: Array) -> TractResult<Tensor> {
    let shape = tract_ndarray::IxDyn(&array.shape);
    let tensor: Tensor = match array.data {
        Data::F32(v) => tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into(),
        Data::I64(v) => tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into(),
        Data::Str(v) => tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into(),
    };
    Ok(tensor)
}

fn from_tensor(tensor: &Tensor) -> TractResult<Array> {
    let shape = tensor.shape().to_vec();
    let view = tensor.try_as_plain_ram()?;
    Ok(match tensor.datum_type() {
        DatumType::F32 => Array::f32(shape, view.as_slice::<f32>()?.to_vec()),
        DatumType::F64 => Array::f32(shape, view.as_slice::<f64>()?.iter().map(|&x| x as f32).collect()),
        DatumType::I64 => Array::i64(shape, view.as_slice::<i64>()?.to_vec()),
        DatumType::I32 => Array::i64(shape, view.as_slice::<i32>()?.iter().map(|&x| x as i64).collect()),
        DatumType::Bool => Array::i64(shape, view.as_slice::<bool>()?.iter().map(|&x| x as i64).collect()),
        DatumType::String => Array::strings(shape, view.as_slice::<String>()?.to_vec()),
        dt if dt.is_integer() || dt == DatumType::TDim => {
            let cast = tensor.cast_to::<i64>()?;
            let view = cast.try_as_plain_ram()?;
            Array::i64(shape, view.as_slice::<i64>()?.to_vec())
        }
        _ => {
            let cast = tensor.cast_to::<f32>()?;
            let view = cast.try_as_plain_ram()?;
            Array::f32(shape, view.as_slice::<f32>()?.to_vec())
        }
    })
}

/// The tract op builder for every ONNX-ML operator of [`ml::OPERATORS`].
fn build_ml_node(
    ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    if !node.domain.is_empty() && node.domain != "ai.onnx.ml" {
        bail!("operator {}:{} is not supported", node.domain, node.op_type);
    }
    if node.op_type == "ArrayFeatureExtractor" {
        return Ok((expand(ArrayFeatureExtractor), vec![]));
    }
    let kernel = ml::build(node).map_err(|e| anyhow!("{e}"))?;
    let inputs = node.input.iter().filter(|i| !i.is_empty()).count();
    let _ = ctx;
    Ok((expand(MlExpansion { kernel, inputs }), vec![]))
}

/// A kernel seen by tract's inference stage: arity, output types and shapes.
#[derive(Debug, Clone)]
struct MlExpansion {
    kernel: Arc<dyn Kernel>,
    inputs: usize,
}

impl Expansion for MlExpansion {
    fn name(&self) -> StaticName {
        self.kernel.op_type().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.kernel.output_types().len())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let inputs = &inputs[..self.inputs.min(inputs.len())];
        let types = self.kernel.output_types();
        check_output_arity(outputs, types.len())?;
        for (output, kind) in outputs.iter().zip(&types) {
            s.equals(&output.datum_type, element_datum_type(*kind))?;
        }
        s.given_all(inputs.iter().map(|i| &i.shape), move |s, shapes: Vec<TVec<TDim>>| {
            let (batch, dims) = split_shapes(&shapes)?;
            let out = self.kernel.output_dims(&dims).map_err(|e| anyhow!("{}: {e}", self.kernel.op_type()))?;
            for (output, dims) in outputs.iter().zip(out) {
                let mut shape: TVec<TDim> = tvec![batch.clone()];
                shape.extend(dims.into_iter().map(|d| d.to_dim()));
                s.equals(&output.shape, ShapeFactoid::from(shape))?;
            }
            Ok(())
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let inputs = &inputs[..self.inputs.min(inputs.len())];
        model.wire_node(prefix, MlOp { kernel: self.kernel.clone() }, inputs)
    }
}

/// The batch dimension (of the first input) and every input's trailing dimensions.
fn split_shapes(shapes: &[TVec<TDim>]) -> TractResult<(TDim, Vec<Vec<usize>>)> {
    let batch = shapes.first().and_then(|s| s.first().cloned()).unwrap_or_else(|| 1.to_dim());
    let dims = shapes
        .iter()
        .map(|shape| shape.iter().skip(1).map(|d| Ok(d.to_usize()?)).collect::<TractResult<Vec<usize>>>())
        .collect::<TractResult<Vec<_>>>()?;
    Ok((batch, dims))
}

fn element_datum_type(kind: ElementType) -> DatumType {
    match kind {
        ElementType::F32 => DatumType::F32,
        ElementType::I64 => DatumType::I64,
        ElementType::Str => DatumType::String,
    }
}

/// The typed operator tract plans and runs.
#[derive(Debug, Clone)]
struct MlOp {
    kernel: Arc<dyn Kernel>,
}

// Invariant: two nodes are the same operator only if they share the kernel instance, so
// tract never merges nodes with different attributes.
impl PartialEq for MlOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.kernel, &other.kernel)
    }
}
impl Eq for MlOp {}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        self.kernel.op_type().into()
    }

    op_as_typed_op!();
}

impl EvalOp for MlOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let outputs = if inputs.len() == 1 && inputs[0].datum_type() == DatumType::F32 {
            // The hot path (trees, linear models, scalers): the kernel reads tract's buffer.
            let view = inputs[0].try_as_plain_ram()?;
            self.kernel.eval_numeric(view.as_slice::<f32>()?, inputs[0].shape())
        } else {
            let arrays = inputs.iter().map(|t| from_tensor(t)).collect::<TractResult<Vec<_>>>()?;
            self.kernel.eval(&arrays)
        };
        let outputs = outputs.map_err(|e| anyhow!("{}: {e}", self.kernel.op_type()))?;
        outputs.into_iter().map(|a| to_tensor(a).map(IntoTValue::into_tvalue)).collect()
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shapes: Vec<TVec<TDim>> = inputs.iter().map(|f| f.shape.to_tvec()).collect();
        let (batch, dims) = split_shapes(&shapes)?;
        let out = self.kernel.output_dims(&dims).map_err(|e| anyhow!("{}: {e}", self.kernel.op_type()))?;
        Ok(out
            .into_iter()
            .zip(self.kernel.output_types())
            .map(|(dims, kind)| {
                let mut shape: TVec<TDim> = tvec![batch.clone()];
                shape.extend(dims.into_iter().map(|d| d.to_dim()));
                element_datum_type(kind).fact(shape)
            })
            .collect())
    }

    as_op!();
}

/// `ArrayFeatureExtractor(X, indices)`: gathers `indices` (flattened) along X's last axis;
/// a 1-D X is one row, so the output is `[1, n]`. Wired as tract's own `Gather`.
#[derive(Debug, Clone, Default)]
struct ArrayFeatureExtractor;

impl Expansion for ArrayFeatureExtractor {
    fn name(&self) -> StaticName {
        "ArrayFeatureExtractor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, x, indices| {
            let count: TDim = indices.iter().product();
            let mut shape: TVec<TDim> = if x.len() <= 1 { tvec![1.to_dim()] } else { x[..x.len() - 1].into() };
            shape.push(count);
            s.equals(&outputs[0].shape, ShapeFactoid::from(shape))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let mut x = inputs[0];
        if model.outlet_fact(x)?.rank() <= 1 {
            if model.outlet_fact(x)?.rank() == 0 {
                x = model.wire_node(format!("{prefix}.x_vector"), AxisOp::Add(0), &[x])?[0];
            }
            x = model.wire_node(format!("{prefix}.x_row"), AxisOp::Add(0), &[x])?[0];
        }
        let mut indices = model.wire_node(
            format!("{prefix}.indices_i64"),
            tract_core::ops::cast::cast(i64::datum_type()),
            &[inputs[1]],
        )?[0];
        match model.outlet_fact(indices)?.rank() {
            0 => indices = model.wire_node(format!("{prefix}.indices_vector"), AxisOp::Add(0), &[indices])?[0],
            1 => {}
            _ => {
                // onnxruntime flattens indices of any shape.
                let shape = model.outlet_fact(indices)?.shape.to_tvec();
                let count: TDim = shape.iter().product();
                let flatten = AxisOp::Reshape(0, shape, tvec![count]);
                indices = model.wire_node(format!("{prefix}.indices_flat"), flatten, &[indices])?[0];
            }
        }
        let axis = model.outlet_fact(x)?.rank() - 1;
        model.wire_node(prefix, tract_core::ops::array::Gather::new(axis), &[x, indices])
    }
}

/// `ArgMax`, which classifier graphs apply to every row of their scores: rows of a 2-D
/// `f32` tensor along the last axis run on [`RowArgMax`] (tract's generic reduction walks
/// n-dimensional indices per element); anything else goes to tract's own reduction.
fn build_arg_max(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let attribute = |name: &str| node.attribute.iter().find(|a| a.name == name).map(|a| a.i);
    let axis = attribute("axis").unwrap_or(0);
    let keep_dims = attribute("keepdims").unwrap_or(1) != 0;
    let take_last = attribute("select_last_index").unwrap_or(0) != 0;
    let generic = tract_onnx::tract_hir::ops::nn::Reduce::new(
        Some(vec![axis]),
        keep_dims,
        tract_onnx::tract_hir::ops::nn::Reducer::ArgMax(take_last),
    );
    Ok((expand(ArgMax { axis, keep_dims, take_last, generic }), vec![]))
}

#[derive(Debug, Clone)]
struct ArgMax {
    axis: i64,
    keep_dims: bool,
    take_last: bool,
    generic: tract_onnx::tract_hir::ops::nn::Reduce,
}

impl Expansion for ArgMax {
    fn name(&self) -> StaticName {
        "ArgMax".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.generic.rules(s, inputs, outputs)
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        if fact.rank() == 2
            && (self.axis == 1 || self.axis == -1)
            && !self.take_last
            && fact.datum_type == DatumType::F32
        {
            let kernel: Arc<dyn Kernel> = Arc::new(RowArgMax { keep_dims: self.keep_dims });
            return model.wire_node(prefix, MlOp { kernel }, inputs);
        }
        self.generic.wire(prefix, model, inputs)
    }
}

/// The index of each row's first maximum (a NaN is never greater, as onnxruntime).
#[derive(Debug)]
struct RowArgMax {
    keep_dims: bool,
}

impl Kernel for RowArgMax {
    fn op_type(&self) -> &'static str {
        "ArgMax"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::I64]
    }
    fn output_dims(&self, _inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![if self.keep_dims { vec![1] } else { vec![] }])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let x = inputs[0].to_f32()?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = (shape[0], shape.get(1).copied().unwrap_or(1));
        let mut out = Vec::with_capacity(rows);
        for row in x.chunks(width.max(1)).take(rows) {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate().skip(1) {
                if v > row[best] {
                    best = k;
                }
            }
            out.push(best as i64);
        }
        let shape = if self.keep_dims { vec![rows, 1] } else { vec![rows] };
        Ok(vec![Array::i64(shape, out)])
    }
}
