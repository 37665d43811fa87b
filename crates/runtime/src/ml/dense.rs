//! Dense layers: `act(alpha · X·W + bias)` for a constant `W`, chained. The tract engine
//! rewrites every run of `MatMul`/`Gemm` by a constant matrix, with an optional constant bias
//! (`Add`, or `Gemm`'s `C`) and an optional `Relu`, into one [`Dense`] node (see [`fuse`]),
//! so a network's layers run back to back on blocks of rows that stay in cache, with the
//! bias and activation applied in registers.
//!
//! The product is a register-tiled kernel over weights packed once at load: panels of `NR`
//! output columns, `K` rows each; a tile of `MR` rows × `NR` columns keeps its sums in
//! registers. Each output is summed as onnxruntime's SGEMM does — inputs in order, each step
//! a fused multiply-add rounded to f32 on CPUs with FMA (else a multiply and an add, as
//! MLAS's SSE kernel), `alpha` then the bias applied after the sum.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, ModelProto, NodeProto, TensorProto};

use super::attributes::Attributes;
use super::{rows_and_width, Array, ElementType, Kernel};
use crate::error::Error;

/// The operator type of a fused node (registered with tract; not an ONNX operator).
pub const OP_TYPE: &str = "TrainyardDense";

/// Rows of a block: every layer of the chain runs on one block before the next block.
const BLOCK: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activation {
    Identity,
    Relu,
}

/// One layer: `inputs` → `outputs` columns.
#[derive(Debug)]
struct Layer {
    inputs: usize,
    outputs: usize,
    /// Output columns per panel: 16 (two AVX registers) or 8; 1 for layers of at most
    /// [`NARROW`] outputs, which run with rows in the vector lanes instead.
    panel: usize,
    /// `ceil(outputs / panel)` panels of `inputs × panel` weights, zero-padded (for narrow
    /// layers: `outputs` columns of `inputs` weights).
    packed: Vec<f32>,
    /// `outputs` values (zeros when the graph has no bias), zero-padded to whole panels.
    bias: Vec<f32>,
    alpha: f32,
    activation: Activation,
    /// A `Scaler` before the first layer: `inputs` offsets and scales.
    scaler: Option<(Vec<f32>, Vec<f32>)>,
}

/// Layers of at most this many outputs compute 16 rows at a time, one output at a time.
const NARROW: usize = 4;

/// Rows of a narrow layer's tile (two AVX registers).
const LANES: usize = 16;

/// Rows of the tallest tile: one tile's inputs are copied column by column into a scratch
/// buffer of `inputs × MAX_ROWS`.
const MAX_ROWS: usize = 16;

impl Layer {
    /// `weights` is `inputs × outputs`, row-major (`W` as `MatMul` reads it).
    fn new(
        weights: &[f32],
        inputs: usize,
        outputs: usize,
        mut bias: Vec<f32>,
        alpha: f32,
        activation: Activation,
    ) -> Layer {
        let panel = if outputs <= NARROW {
            1
        } else if outputs > 8 {
            16
        } else {
            8
        };
        let panels = outputs.div_ceil(panel);
        let mut packed = vec![0.0f32; panels * inputs * panel];
        for p in 0..panels {
            for k in 0..inputs {
                for j in 0..panel.min(outputs - p * panel) {
                    packed[(p * inputs + k) * panel + j] = weights[k * outputs + p * panel + j];
                }
            }
        }
        bias.resize(panels * panel, 0.0);
        Layer { inputs, outputs, panel, packed, bias, alpha, activation, scaler: None }
    }
}

/// A chain of dense layers, each feeding the next.
#[derive(Debug)]
pub struct Dense {
    layers: Vec<Layer>,
}

impl Dense {
    /// Parses a node written by [`fuse`].
    pub fn parse(a: &Attributes) -> Result<Dense, Error> {
        let count = a.int("layers").unwrap_or(0);
        if count <= 0 {
            return Err(a.error("no layers"));
        }
        let mut layers: Vec<Layer> = Vec::new();
        for i in 0..count {
            let (weights, dims) = a.tensor_f32(&format!("weights_{i}"))?;
            let [inputs, outputs] = dims[..] else {
                return Err(a.error(format!("weights_{i} is not a matrix")));
            };
            if let Some(previous) = layers.last() {
                if previous.outputs != inputs {
                    return Err(a.error(format!(
                        "layer {i} takes {inputs} inputs, the layer before gives {}",
                        previous.outputs
                    )));
                }
            }
            let mut bias = a.floats(&format!("bias_{i}"));
            if bias.is_empty() {
                bias = vec![0.0; outputs];
            }
            if bias.len() != outputs {
                return Err(a.error(format!("bias_{i} has {} values for {outputs} outputs", bias.len())));
            }
            let alpha = a.float(&format!("alpha_{i}")).unwrap_or(1.0);
            let activation = match a.int(&format!("relu_{i}")).unwrap_or(0) {
                0 => Activation::Identity,
                _ => Activation::Relu,
            };
            layers.push(Layer::new(&weights, inputs, outputs, bias, alpha, activation));
        }
        let (offset, scale) = (a.floats("offset"), a.floats("scale"));
        if !offset.is_empty() || !scale.is_empty() {
            let width = layers[0].inputs;
            if offset.len() != width || scale.len() != width {
                return Err(a.error(format!("the scaler needs {width} offsets and scales")));
            }
            layers[0].scaler = Some((offset, scale));
        }
        Ok(Dense { layers })
    }

    fn width(&self) -> usize {
        self.layers[0].inputs
    }

    fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// `rows` rows of `width()` inputs → `rows` rows of `outputs()` values.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            #[allow(unsafe_code)]
            // SAFETY: `forward_fma` is compiled for AVX2 and FMA, which this CPU has (checked above).
            return unsafe { self.forward_fma(x, rows) };
        }
        self.forward_with(x, rows, |a, b, c| a * b + c)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn forward_fma(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward_with(x, rows, f32::mul_add)
    }

    /// Blocks of [`BLOCK`] rows through every layer; the intermediate activations of a block
    /// live in two small buffers.
    #[inline(always)]
    fn forward_with(&self, x: &[f32], rows: usize, fma: impl Fn(f32, f32, f32) -> f32 + Copy) -> Vec<f32> {
        let outputs = self.outputs();
        let mut out = vec![0.0f32; rows * outputs];
        let widest = self.layers.iter().map(|l| l.outputs).max().unwrap_or(0);
        let scratch = BLOCK.min(rows) * widest;
        let (mut a, mut b) = (vec![0.0f32; scratch], vec![0.0f32; scratch]);
        // One tile's rows, column by column.
        let widest_input = self.layers.iter().map(|l| l.inputs).max().unwrap_or(0);
        let mut columns = vec![0.0f32; widest_input * MAX_ROWS];
        let last = self.layers.len() - 1;
        for start in (0..rows).step_by(BLOCK) {
            let n = BLOCK.min(rows - start);
            for (i, layer) in self.layers.iter().enumerate() {
                let input: &[f32] = if i == 0 { &x[start * layer.inputs..(start + n) * layer.inputs] } else { &a };
                if i == last {
                    let target = &mut out[start * outputs..(start + n) * outputs];
                    layer_rows(layer, input, n, target, &mut columns, fma);
                } else {
                    layer_rows(layer, input, n, &mut b[..n * layer.outputs], &mut columns, fma);
                    std::mem::swap(&mut a, &mut b);
                }
            }
        }
        out
    }
}

/// One layer over `n` rows of `input` (row stride `layer.inputs`) into `out` (row stride
/// `layer.outputs`).
#[inline(always)]
fn layer_rows(
    layer: &Layer,
    input: &[f32],
    n: usize,
    out: &mut [f32],
    columns: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    match layer.panel {
        1 => {
            for row in (0..n).step_by(LANES) {
                narrow_tile(layer, input, row, LANES.min(n - row), out, columns, fma);
            }
        }
        16 => tiles::<6, 16>(layer, input, n, out, columns, fma),
        _ => tiles::<12, 8>(layer, input, n, out, columns, fma),
    }
}

/// Tiles of `MR` rows, then one tile of the remaining rows. (No recursion here: everything
/// must inline into the caller compiled for FMA.)
#[inline(always)]
fn tiles<const MR: usize, const NR: usize>(
    layer: &Layer,
    input: &[f32],
    n: usize,
    out: &mut [f32],
    columns: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let mut row = 0;
    while row + MR <= n {
        tile::<MR, NR>(layer, input, row, out, columns, fma);
        row += MR;
    }
    let rest = n - row;
    if rest >= 6 {
        tile::<6, NR>(layer, input, row, out, columns, fma);
        row += 6;
    }
    match n - row {
        0 => {}
        1 => tile::<1, NR>(layer, input, row, out, columns, fma),
        2 => tile::<2, NR>(layer, input, row, out, columns, fma),
        3 => tile::<3, NR>(layer, input, row, out, columns, fma),
        4 => tile::<4, NR>(layer, input, row, out, columns, fma),
        _ => tile::<5, NR>(layer, input, row, out, columns, fma),
    }
}

/// Copies `rows` rows from `row` column by column: `stride` values per input; through the
/// layer's absorbed `Scaler`, if any, as that kernel computes it (`(x - offset) · scale`).
#[inline(always)]
fn transpose(layer: &Layer, input: &[f32], row: usize, rows: usize, stride: usize, columns: &mut [f32]) {
    let k = layer.inputs;
    let rows = input[row * k..(row + rows) * k].chunks_exact(k).enumerate();
    match &layer.scaler {
        None => {
            for (r, values) in rows {
                for (column, &v) in columns.chunks_exact_mut(stride).zip(values) {
                    column[r] = v;
                }
            }
        }
        Some((offset, scale)) => {
            for (r, values) in rows {
                let affine = offset.iter().zip(scale);
                for ((column, &v), (&o, &s)) in columns.chunks_exact_mut(stride).zip(values).zip(affine) {
                    column[r] = (v - o) * s;
                }
            }
        }
    }
}

/// `alpha`, bias and activation on a tile's sums, in place.
#[inline(always)]
fn finish<const R: usize, const NR: usize>(sums: &mut [[f32; NR]; R], alpha: f32, bias: &[f32; NR], relu: bool) {
    for row in sums.iter_mut() {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = *v * alpha + b;
        }
    }
    if relu {
        for row in sums.iter_mut() {
            for v in row.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// `R` rows from `row` by every panel of `NR` columns. The rows are first copied column by
/// column (`R` values per input), so the inner loop reads two fixed-size arrays and compiles
/// to vector fused multiply-adds on sums held in registers (the sums are copied out whole
/// before any store of variable width, which would keep them in memory).
#[inline(always)]
fn tile<const R: usize, const NR: usize>(
    layer: &Layer,
    input: &[f32],
    row: usize,
    out: &mut [f32],
    columns: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let k = layer.inputs;
    let columns = &mut columns[..k * R];
    transpose(layer, input, row, R, R, columns);
    let relu = layer.activation == Activation::Relu;
    for (p, panel) in layer.packed.chunks_exact(k * NR).enumerate() {
        let mut acc = [[0.0f32; NR]; R];
        for (xs, w) in columns.chunks_exact(R).zip(panel.chunks_exact(NR)) {
            let xs: &[f32; R] = xs.try_into().expect("columns of R");
            let w: &[f32; NR] = w.try_into().expect("panel rows of NR");
            for r in 0..R {
                for j in 0..NR {
                    acc[r][j] = fma(xs[r], w[j], acc[r][j]);
                }
            }
        }
        let mut sums = [[0.0f32; NR]; R];
        sums.copy_from_slice(&acc);
        let first = p * NR;
        let bias: &[f32; NR] = layer.bias[first..first + NR].try_into().expect("bias padded to panels");
        finish(&mut sums, layer.alpha, bias, relu);
        let width = NR.min(layer.outputs - first);
        for (r, values) in sums.iter().enumerate() {
            let target = &mut out[(row + r) * layer.outputs + first..][..width];
            if width == NR {
                // A whole panel: one fixed-size copy (a variable one is a call to memcpy).
                let target: &mut [f32; NR] = target.try_into().expect("a whole panel");
                *target = *values;
            } else {
                target.copy_from_slice(&values[..width]);
            }
        }
    }
}

/// Up to [`LANES`] rows from `row` of a narrow layer: the rows in the vector lanes, one
/// output column at a time (each sum still over the inputs in order).
#[inline(always)]
fn narrow_tile(
    layer: &Layer,
    input: &[f32],
    row: usize,
    rows: usize,
    out: &mut [f32],
    columns: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let k = layer.inputs;
    let columns = &mut columns[..k * LANES];
    transpose(layer, input, row, rows, LANES, columns);
    let relu = layer.activation == Activation::Relu;
    for (m, weights) in layer.packed.chunks_exact(k).enumerate() {
        let mut acc = [0.0f32; LANES];
        for (xs, &w) in columns.chunks_exact(LANES).zip(weights) {
            let xs: &[f32; LANES] = xs.try_into().expect("columns of LANES");
            for r in 0..LANES {
                acc[r] = fma(xs[r], w, acc[r]);
            }
        }
        let mut sums = [acc];
        finish(&mut sums, layer.alpha, &[layer.bias[m]; LANES], relu);
        for (r, &v) in sums[0][..rows].iter().enumerate() {
            out[(row + r) * layer.outputs + m] = v;
        }
    }
}

impl Kernel for Dense {
    fn op_type(&self) -> &'static str {
        OP_TYPE
    }

    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }

    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        match inputs.first().map(Vec::as_slice) {
            Some(&[width]) if width == self.width() => Ok(vec![vec![self.outputs()]]),
            Some(dims) => Err(format!("expected rows of {} values, got dimensions {dims:?}", self.width())),
            None => Err("no input".into()),
        }
    }

    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let input = inputs.first().ok_or("no input")?;
        let x = input.to_f32()?;
        self.eval_numeric(&x, &input.shape)
    }

    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = rows_and_width(shape);
        if shape.len() != 2 || width != self.width() || x.len() != rows * width {
            return Err(format!("expected rows of {} values, got shape {shape:?}", self.width()));
        }
        Ok(vec![Array::f32(vec![rows, self.outputs()], self.forward(x, rows))])
    }
}

// ---------------------------------------------------------------------------------------
// The graph rewrite.

const FLOAT: i32 = 1;

/// A constant's values and dimensions, if it is a float tensor stored in the model.
fn constant_f32(tensor: &TensorProto) -> Option<(Vec<f32>, Vec<usize>)> {
    if tensor.data_type != FLOAT || !tensor.external_data.is_empty() {
        return None;
    }
    let dims = tensor.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>()?;
    let values: Vec<f32> = if !tensor.raw_data.is_empty() {
        tensor.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        tensor.float_data.clone()
    };
    (values.len() == dims.iter().product::<usize>()).then_some((values, dims))
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// A layer read from the graph: `inputs × outputs` weights, row-major.
struct Found {
    weights: Vec<f32>,
    inputs: usize,
    outputs: usize,
    bias: Option<Vec<f32>>,
    alpha: f32,
    relu: bool,
}

/// A bias of `outputs` values from a constant that broadcasts along rows (`[]`, `[1]`, `[M]`,
/// `[1, 1]` or `[1, M]`), scaled by `beta`.
fn row_bias(values: &[f32], dims: &[usize], outputs: usize, beta: f32) -> Option<Vec<f32>> {
    let ok = match dims {
        [] => true,
        [d] | [1, d] => *d == 1 || *d == outputs,
        _ => false,
    };
    if !ok {
        return None;
    }
    let at = |j: usize| values[if values.len() == 1 { 0 } else { j }];
    Some((0..outputs).map(|j| if beta == 1.0 { at(j) } else { beta * at(j) }).collect())
}

/// Rewrites runs of dense layers over rank-2 float tensors into [`OP_TYPE`] nodes. Only
/// rewrites what it can prove: the input of the first product is a rank-2 float tensor (a
/// graph input of `[N, F]` floats, or an output of a rank- and type-preserving operator of
/// one), weights and biases are constants, every intermediate result has a single consumer
/// and is not a graph output. `rank2_inputs` names the graph inputs that are `[N, F]` floats.
/// Also rewrites `Sub(scalar, x)` for tract's fast paths (see [`scalar_minus`]). Returns the
/// number of rewrites.
pub fn fuse(model: &mut ModelProto, rank2_inputs: &[String]) -> usize {
    let Some(graph) = model.graph.as_mut() else { return 0 };
    // Subgraphs could read any tensor: leave such graphs alone.
    if graph.node.iter().any(|n| n.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty())) {
        return 0;
    }
    let mut constants: HashMap<String, TensorProto> =
        graph.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    for node in &graph.node {
        if node.op_type == "Constant" && node.domain.is_empty() {
            if let (Some(output), Some(value)) =
                (node.output.first(), attribute(node, "value").and_then(|a| a.t.as_ref()))
            {
                constants.insert(output.clone(), value.clone());
            }
        }
    }
    // An initializer also listed as a graph input stays a constant here: the runtime feeds
    // only the inputs that are not initializers.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for node in &graph.node {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            *uses.entry(input.as_str()).or_default() += 1;
        }
    }
    for output in &graph.output {
        *uses.entry(output.name.as_str()).or_default() += 2;
    }
    let single_use = |name: &str| uses.get(name).copied() == Some(1);
    let constant = |name: &str| constants.get(name).and_then(constant_f32);

    // Tensors known to be rank-2 floats.
    let mut rank2: HashSet<String> = rank2_inputs.iter().cloned().collect();
    let mut consumed = vec![false; graph.node.len()];
    let mut replacements: HashMap<usize, Vec<NodeProto>> = HashMap::new();
    // The consumer of a single-use tensor.
    let consumer: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.input.iter().filter(|x| !x.is_empty()).map(move |x| (x.as_str(), i)))
        .collect();
    let nodes = &graph.node;
    let producer: HashMap<&str, usize> =
        nodes.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();

    // A product node as a layer: `MatMul(A, W)` or `Gemm(A, B, C)` with `transA = 0`.
    let product = |node: &NodeProto| -> Option<Found> {
        if !node.domain.is_empty() || node.output.len() != 1 {
            return None;
        }
        match node.op_type.as_str() {
            "MatMul" if node.input.len() == 2 => {
                let (weights, dims) = constant(&node.input[1])?;
                let [inputs, outputs] = dims[..] else { return None };
                Some(Found { weights, inputs, outputs, bias: None, alpha: 1.0, relu: false })
            }
            "Gemm" if (2..=3).contains(&node.input.len()) => {
                if attribute(node, "transA").is_some_and(|a| a.i != 0) {
                    return None;
                }
                let (b, dims) = constant(&node.input[1])?;
                let [d0, d1] = dims[..] else { return None };
                let trans_b = attribute(node, "transB").is_some_and(|a| a.i != 0);
                let (inputs, outputs) = if trans_b { (d1, d0) } else { (d0, d1) };
                let weights = if trans_b {
                    let mut w = vec![0.0f32; inputs * outputs];
                    for m in 0..outputs {
                        for k in 0..inputs {
                            w[k * outputs + m] = b[m * inputs + k];
                        }
                    }
                    w
                } else {
                    b
                };
                let alpha = attribute(node, "alpha").map_or(1.0, |a| a.f);
                let beta = attribute(node, "beta").map_or(1.0, |a| a.f);
                let bias = match node.input.get(2).filter(|c| !c.is_empty()) {
                    None => None,
                    Some(c) => {
                        let (values, dims) = constant(c)?;
                        Some(row_bias(&values, &dims, outputs, beta)?)
                    }
                };
                Some(Found { weights, inputs, outputs, bias, alpha, relu: false })
            }
            _ => None,
        }
    };

    let mut fused = 0;
    for i in 0..nodes.len() {
        if consumed[i] {
            continue;
        }
        let node = &nodes[i];
        let Some(first) = product(node).filter(|_| rank2.contains(&node.input[0])) else {
            if let Some(rewritten) = scalar_minus(node, &rank2, &constant) {
                replacements.insert(i, rewritten);
                consumed[i] = true;
                fused += 1;
            }
            propagate_rank2(node, &mut rank2, &constant);
            continue;
        };
        let mut layers = vec![first];
        let mut members = vec![i];
        let mut output = node.output[0].clone();
        loop {
            let next = consumer.get(output.as_str()).copied().filter(|_| single_use(&output));
            let Some(j) = next.filter(|&j| !consumed[j]) else { break };
            let n = &nodes[j];
            let layer = layers.last_mut().expect("one layer");
            match n.op_type.as_str() {
                "Add" if n.domain.is_empty() && layer.bias.is_none() && !layer.relu && n.input.len() == 2 => {
                    let other = if n.input[0] == output { &n.input[1] } else { &n.input[0] };
                    let Some(bias) = constant(other).and_then(|(v, d)| row_bias(&v, &d, layer.outputs, 1.0)) else {
                        break;
                    };
                    layer.bias = Some(bias);
                }
                "Relu" if n.domain.is_empty() && !layer.relu => layer.relu = true,
                _ if n.input.first() == Some(&output) => match product(n) {
                    Some(next) if next.inputs == layer.outputs => layers.push(next),
                    _ => break,
                },
                _ => break,
            }
            members.push(j);
            output = n.output[0].clone();
        }
        // Before the first product: a Cast to float of a float tensor (an identity), and a
        // Scaler, applied as the kernel copies its input.
        let mut input = node.input[0].clone();
        let mut scaler = None;
        let absorbable = |name: &str, consumed: &[bool]| {
            producer.get(name).copied().filter(|&p| single_use(name) && !consumed[p] && p < i)
        };
        if let Some(p) = absorbable(&input, &consumed) {
            let n = &nodes[p];
            if n.domain.is_empty() && n.op_type == "Cast" && rank2.contains(&n.input[0]) {
                members.push(p);
                input = n.input[0].clone();
            }
        }
        if let Some(p) = absorbable(&input, &consumed) {
            let n = &nodes[p];
            if n.domain == "ai.onnx.ml" && n.op_type == "Scaler" && rank2.contains(&n.input[0]) {
                let a = Attributes::new(n);
                let width = layers[0].inputs;
                let broadcast = |values: Vec<f32>, default: f32| match values.len() {
                    0 => Some(vec![default; width]),
                    1 => Some(vec![values[0]; width]),
                    n if n == width => Some(values),
                    _ => None,
                };
                if let (Some(offset), Some(scale)) =
                    (broadcast(a.floats("offset"), 0.0), broadcast(a.floats("scale"), 1.0))
                {
                    members.push(p);
                    input = n.input[0].clone();
                    scaler = Some((offset, scale));
                }
            }
        }
        for &m in &members {
            consumed[m] = true;
        }
        let name = if node.name.is_empty() { output.clone() } else { node.name.clone() };
        let mut dense = dense_node(&name, &input, &output, &layers);
        if let Some((offset, scale)) = scaler {
            for (name, floats) in [("offset", offset), ("scale", scale)] {
                dense.attribute.push(AttributeProto {
                    name: name.into(),
                    r#type: AttributeType::Floats as i32,
                    floats,
                    ..Default::default()
                });
            }
        }
        replacements.insert(i, vec![dense]);
        rank2.insert(output);
        fused += 1;
    }
    if fused == 0 {
        return 0;
    }
    let old = std::mem::take(&mut graph.node);
    for (i, node) in old.into_iter().enumerate() {
        if let Some(replacement) = replacements.remove(&i) {
            graph.node.extend(replacement);
        } else if !consumed[i] {
            graph.node.push(node);
        }
    }
    fused
}

/// `Sub(c, x)` of a float scalar constant and a rank-2 float tensor (skl2onnx's `1 - p` for
/// binary classifiers) as `Add(Neg(x), c)`: the same IEEE operation (`c - x` is `c + (-x)`,
/// bit for bit), but tract runs it on its fast paths (a broadcast first operand of `Sub`
/// takes its generic one, several times slower).
fn scalar_minus(
    node: &NodeProto,
    rank2: &HashSet<String>,
    constant: &impl Fn(&str) -> Option<(Vec<f32>, Vec<usize>)>,
) -> Option<Vec<NodeProto>> {
    if !node.domain.is_empty() || node.op_type != "Sub" || node.input.len() != 2 || node.output.len() != 1 {
        return None;
    }
    let (c, x) = (&node.input[0], &node.input[1]);
    let (values, dims) = constant(c)?;
    if values.len() != 1 || dims.len() > 2 || !rank2.contains(x) {
        return None;
    }
    let output = &node.output[0];
    let negated = format!("{output}.negated");
    let name = if node.name.is_empty() { output.clone() } else { node.name.clone() };
    Some(vec![
        NodeProto {
            name: format!("{name}.neg"),
            op_type: "Neg".into(),
            input: vec![x.clone()],
            output: vec![negated.clone()],
            ..Default::default()
        },
        NodeProto {
            name: format!("{name}.add"),
            op_type: "Add".into(),
            input: vec![negated, c.clone()],
            output: vec![output.clone()],
            ..Default::default()
        },
    ])
}

/// Records which outputs of `node` are rank-2 floats, given its inputs.
fn propagate_rank2(
    node: &NodeProto,
    rank2: &mut HashSet<String>,
    constant: &impl Fn(&str) -> Option<(Vec<f32>, Vec<usize>)>,
) {
    let Some(x) = node.input.first() else { return };
    let Some(output) = node.output.first() else { return };
    let preserved = match (node.domain.as_str(), node.op_type.as_str()) {
        ("ai.onnx.ml", "Scaler" | "Normalizer" | "Binarizer") => rank2.contains(x),
        (
            "",
            "Relu" | "Sigmoid" | "Tanh" | "LeakyRelu" | "Elu" | "Selu" | "Softplus" | "HardSigmoid" | "Abs" | "Neg",
        )
        | ("", "Identity" | "Dropout") => rank2.contains(x),
        ("", "Cast") => rank2.contains(x) && attribute(node, "to").is_some_and(|a| a.i == i64::from(FLOAT)),
        ("", "Add" | "Sub" | "Mul" | "Div") if node.input.len() == 2 => {
            let (a, b) = (&node.input[0], &node.input[1]);
            let other = if rank2.contains(a) {
                b
            } else if rank2.contains(b) {
                a
            } else {
                return;
            };
            constant(other).is_some_and(|(_, dims)| dims.len() < 2 || (dims.len() == 2 && dims[0] == 1))
        }
        _ => false,
    };
    if preserved {
        rank2.insert(output.clone());
    }
}

fn dense_node(name: &str, input: &str, output: &str, layers: &[Found]) -> NodeProto {
    let mut attributes = vec![AttributeProto {
        name: "layers".into(),
        r#type: AttributeType::Int as i32,
        i: layers.len() as i64,
        ..Default::default()
    }];
    for (i, layer) in layers.iter().enumerate() {
        attributes.push(AttributeProto {
            name: format!("weights_{i}"),
            r#type: AttributeType::Tensor as i32,
            t: Some(TensorProto {
                dims: vec![layer.inputs as i64, layer.outputs as i64],
                data_type: FLOAT,
                float_data: layer.weights.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
        if let Some(bias) = &layer.bias {
            attributes.push(AttributeProto {
                name: format!("bias_{i}"),
                r#type: AttributeType::Floats as i32,
                floats: bias.clone(),
                ..Default::default()
            });
        }
        attributes.push(AttributeProto {
            name: format!("alpha_{i}"),
            r#type: AttributeType::Float as i32,
            f: layer.alpha,
            ..Default::default()
        });
        attributes.push(AttributeProto {
            name: format!("relu_{i}"),
            r#type: AttributeType::Int as i32,
            i: layer.relu as i64,
            ..Default::default()
        });
    }
    NodeProto {
        name: format!("{name}.dense"),
        op_type: OP_TYPE.into(),
        input: vec![input.into()],
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), values in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() + 1.0) / 2.0 * n as f32) as usize % n
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    /// A layer of the reference: weights, inputs, outputs, bias, alpha, relu.
    type Spec = (Vec<f32>, usize, usize, Vec<f32>, f32, bool);

    /// The straightforward reference: every layer as nested loops in f64.
    fn reference(layers: &[Spec], x: &[f32], rows: usize) -> Vec<f64> {
        let mut current: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for (w, k, m, b, alpha, relu) in layers {
            let mut next = vec![0.0f64; rows * m];
            for r in 0..rows {
                for j in 0..*m {
                    let mut s = 0.0;
                    for i in 0..*k {
                        s += current[r * k + i] * w[i * m + j] as f64;
                    }
                    let v = *alpha as f64 * s + b[j] as f64;
                    next[r * m + j] = if *relu { v.max(0.0) } else { v };
                }
            }
            current = next;
        }
        current
    }

    #[test]
    fn chains_of_random_shapes_agree_with_the_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let sizes = [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 20, 31, 32, 33, 64, 65];
        for case in 0..120 {
            let depth = 1 + rng.below(3);
            let mut width = sizes[rng.below(sizes.len())];
            let input_width = width;
            let mut spec = Vec::new();
            for _ in 0..depth {
                let outputs = sizes[rng.below(sizes.len())];
                let alpha = if rng.below(4) == 0 { 0.5 } else { 1.0 };
                spec.push((rng.vec(width * outputs), width, outputs, rng.vec(outputs), alpha, rng.below(2) == 0));
                width = outputs;
            }
            let rows = [1, 2, 5, 6, 7, 11, 12, 13, 47, 48, 49, 97, 150][rng.below(13)];
            let x = rng.vec(rows * input_width);
            let dense = Dense {
                layers: spec
                    .iter()
                    .map(|(w, k, m, b, alpha, relu)| {
                        let activation = if *relu { Activation::Relu } else { Activation::Identity };
                        Layer::new(w, *k, *m, b.clone(), *alpha, activation)
                    })
                    .collect(),
            };
            let mut dense = dense;
            let mut scaled = x.clone();
            if case % 3 == 0 {
                let (offset, scale) = (rng.vec(input_width), rng.vec(input_width));
                for row in scaled.chunks_mut(input_width) {
                    for ((v, o), s) in row.iter_mut().zip(&offset).zip(&scale) {
                        *v = (*v - o) * s;
                    }
                }
                dense.layers[0].scaler = Some((offset, scale));
            }
            let expected = reference(&spec, &scaled, rows);
            for forward in [dense.forward(&x, rows), dense.forward_with(&x, rows, |a, b, c| a * b + c)] {
                assert_eq!(forward.len(), expected.len(), "case {case}");
                for (n, (&ours, &theirs)) in forward.iter().zip(&expected).enumerate() {
                    let tolerance = 1e-4 * (1.0 + theirs.abs());
                    assert!(
                        (ours as f64 - theirs).abs() <= tolerance,
                        "case {case} ({spec_shape:?}, {rows} rows) value {n}: {ours} against {theirs}",
                        spec_shape = spec.iter().map(|l| (l.1, l.2)).collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    fn has_fma() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        #[allow(unreachable_code)]
        false
    }

    #[test]
    fn sums_in_input_order_with_one_rounding_per_step() {
        // Terms that cancel: only a sum in order with fused steps gives onnxruntime's bits.
        let k = 5;
        let w = vec![1.0f32, 1e8, 1.0, -1e8, 3.0];
        let dense = Dense { layers: vec![Layer::new(&w, k, 1, vec![0.25], 1.0, Activation::Identity)] };
        let x = vec![0.1f32, 1.0, 0.7, 1.0, 0.3];
        let mut expected = 0.0f32;
        for i in 0..k {
            expected = if has_fma() { x[i].mul_add(w[i], expected) } else { x[i] * w[i] + expected };
        }
        assert_eq!(dense.forward(&x, 1), vec![expected + 0.25]);
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn constant(name: &str, dims: &[i64]) -> TensorProto {
        let n = dims.iter().product::<i64>() as usize;
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: (0..n).map(|i| i as f32).collect(),
            ..Default::default()
        }
    }

    fn graph(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>, outputs: &[&str]) -> ModelProto {
        ModelProto {
            graph: Some(tract_onnx::pb::GraphProto {
                node: nodes,
                initializer: initializers,
                output: outputs
                    .iter()
                    .map(|o| tract_onnx::pb::ValueInfoProto { name: o.to_string(), ..Default::default() })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ops(model: &ModelProto) -> Vec<String> {
        model.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect()
    }

    #[test]
    fn fuses_products_bias_and_relu_into_one_chain() {
        let mut scaler = node("Scaler", &["x"], "s");
        scaler.domain = "ai.onnx.ml".into();
        scaler.attribute.push(AttributeProto { name: "offset".into(), floats: vec![0.5], ..Default::default() });
        scaler.attribute.push(AttributeProto {
            name: "scale".into(),
            floats: vec![1.0, 2.0, 3.0, 4.0],
            ..Default::default()
        });
        let mut cast = node("Cast", &["s"], "c");
        cast.attribute.push(AttributeProto { name: "to".into(), i: 1, ..Default::default() });
        let mut gemm = node("Gemm", &["r1", "w2", "b2"], "g2");
        gemm.attribute.push(AttributeProto { name: "transB".into(), i: 1, ..Default::default() });
        let mut model = graph(
            vec![
                scaler,
                cast,
                node("MatMul", &["c", "w1"], "m1"),
                node("Add", &["b1", "m1"], "a1"),
                node("Relu", &["a1"], "r1"),
                gemm,
                node("Relu", &["g2"], "r2"),
                node("MatMul", &["r2", "w3"], "m3"),
                node("Sigmoid", &["m3"], "y"),
            ],
            vec![
                constant("w1", &[4, 6]),
                constant("b1", &[1, 6]),
                constant("w2", &[3, 6]),
                constant("b2", &[3]),
                constant("w3", &[3, 1]),
            ],
            &["y"],
        );
        assert_eq!(fuse(&mut model, &["x".to_string()]), 1);
        assert_eq!(ops(&model), [OP_TYPE, "Sigmoid"]);
        let dense = &model.graph.as_ref().unwrap().node[0];
        assert_eq!(
            (dense.input.as_slice(), dense.output.as_slice()),
            (&["x".to_string()][..], &["m3".to_string()][..])
        );
        let kernel = Dense::parse(&Attributes::new(dense)).unwrap();
        assert_eq!(kernel.layers[0].scaler, Some((vec![0.5; 4], vec![1.0, 2.0, 3.0, 4.0])));
        let shapes: Vec<_> = kernel.layers.iter().map(|l| (l.inputs, l.outputs, l.activation)).collect();
        assert_eq!(shapes, [(4, 6, Activation::Relu), (6, 3, Activation::Relu), (3, 1, Activation::Identity)]);
        // Gemm's transposed B, W[k][m] = B[m][k]; a narrow layer packs W column by column.
        assert_eq!(kernel.layers[1].packed[..7], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn leaves_what_it_cannot_prove() {
        let unfused = |nodes: Vec<NodeProto>, inits: Vec<TensorProto>, outputs: &[&str], inputs: &[&str]| {
            let mut model = graph(nodes, inits, outputs);
            let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
            fuse(&mut model, &inputs) == 0
        };
        // An input not known to be rank 2.
        assert!(unfused(vec![node("MatMul", &["x", "w"], "y")], vec![constant("w", &[2, 2])], &["y"], &[]));
        // Weights that are not a constant.
        assert!(unfused(vec![node("MatMul", &["x", "w"], "y")], vec![], &["y"], &["x"]));
        // A 3-D constant.
        assert!(unfused(vec![node("MatMul", &["x", "w"], "y")], vec![constant("w", &[1, 2, 2])], &["y"], &["x"]));
        // A bias over rows.
        let mut model = graph(
            vec![node("MatMul", &["x", "w"], "m"), node("Add", &["m", "b"], "y")],
            vec![constant("w", &[2, 2]), constant("b", &[3, 2])],
            &["y"],
        );
        assert_eq!(fuse(&mut model, &["x".to_string()]), 1);
        assert_eq!(ops(&model), [OP_TYPE, "Add"]);
        // An intermediate result that is also a graph output stays.
        let mut model = graph(
            vec![node("MatMul", &["x", "w"], "m"), node("Relu", &["m"], "y")],
            vec![constant("w", &[2, 2])],
            &["m", "y"],
        );
        assert_eq!(fuse(&mut model, &["x".to_string()]), 1);
        assert_eq!(ops(&model), [OP_TYPE, "Relu"]);
    }

    #[test]
    fn a_scalar_minus_a_tensor_becomes_an_add_of_its_negation() {
        let mut model = graph(
            vec![node("Sigmoid", &["x"], "p"), node("Sub", &["one", "p"], "q")],
            vec![constant("one", &[])],
            &["q"],
        );
        assert_eq!(fuse(&mut model, &["x".to_string()]), 1);
        assert_eq!(ops(&model), ["Sigmoid", "Neg", "Add"]);
        let nodes = &model.graph.as_ref().unwrap().node;
        assert_eq!(nodes[1].input, ["p"]);
        assert_eq!(nodes[2].input, [nodes[1].output[0].clone(), "one".to_string()]);
        assert_eq!(nodes[2].output, ["q"]);
        // c - x is c + (-x) in IEEE arithmetic, signed zeros and all.
        for (c, x) in [(1.0f32, 0.25f32), (1.0, 1.0), (0.0, 0.0), (0.0, -0.0), (1.0, 1e-30), (-0.0, 0.0)] {
            assert_eq!((c - x).to_bits(), (-x + c).to_bits(), "{c} - {x}");
        }
    }
}
