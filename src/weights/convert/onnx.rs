//! ONNX model files, read with prost from the published schema (onnx/onnx.proto, IR version 7
//! and later): only the messages and fields a converter needs, with their field numbers. Weights
//! may be initializers or `Constant` nodes (PaddleOCR's exports use the latter); both end up in
//! one table of constant tensors, and constant-only subgraphs (reshapes of weights) are folded.

use std::collections::HashMap;

use prost::Message;

use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
}

/// TensorProto.DataType values this reader decodes.
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// At most this many values in one constant (the largest PP-OCR weight has 2.2 M).
const MAX_VALUES: usize = 1 << 27;

/// A constant tensor, held as f32 (weights) or i64 (shapes, axes), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub dims: Vec<usize>,
    pub f: Vec<f32>,
    pub i: Vec<i64>,
}

impl Const {
    /// Number of values the dims call for.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }
    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as f32 (integers converted).
    pub fn floats(&self) -> Vec<f32> {
        if self.f.is_empty() && !self.i.is_empty() {
            self.i.iter().map(|&v| v as f32).collect()
        } else {
            self.f.clone()
        }
    }
    /// The values as integers (floats must be whole).
    pub fn ints(&self) -> Result<Vec<i64>> {
        if !self.i.is_empty() || self.f.is_empty() {
            return Ok(self.i.clone());
        }
        self.f.iter().map(|&v| if v.fract() == 0.0 { Ok(v as i64) } else { Err(Error::Model(format!("ONNX: {v} where an integer was expected"))) }).collect()
    }
    /// The one value of a scalar or one-element tensor.
    pub fn scalar(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.floats()[0])
    }
}

fn decode_tensor(t: &TensorProto) -> Result<Const> {
    let dims: Vec<usize> =
        t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| Error::Model(format!("ONNX tensor {}: negative dimension {d}", t.name)))).collect::<Result<_>>()?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_VALUES);
    let n = n.ok_or_else(|| Error::Model(format!("ONNX tensor {}: dimensions {dims:?} too large", t.name)))?;
    let raw = &t.raw_data;
    let width = match t.data_type {
        FLOAT | INT32 => 4,
        INT64 | DOUBLE => 8,
        other => return Err(Error::Model(format!("ONNX tensor {}: data type {other} is not supported", t.name))),
    };
    if !raw.is_empty() && raw.len() != n * width {
        return Err(Error::Model(format!("ONNX tensor {}: {} bytes of data for {n} values", t.name, raw.len())));
    }
    let chunks = || raw.chunks_exact(width);
    let (f, i): (Vec<f32>, Vec<i64>) = match t.data_type {
        FLOAT if !raw.is_empty() => (chunks().map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(), vec![]),
        FLOAT => (t.float_data.clone(), vec![]),
        DOUBLE if !raw.is_empty() => (chunks().map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(), vec![]),
        DOUBLE => (t.double_data.iter().map(|&v| v as f32).collect(), vec![]),
        INT32 if !raw.is_empty() => (vec![], chunks().map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect()),
        INT32 => (vec![], t.int32_data.iter().map(|&v| v as i64).collect()),
        INT64 if !raw.is_empty() => (vec![], chunks().map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        _ => (vec![], t.int64_data.clone()),
    };
    if f.len().max(i.len()) != n {
        return Err(Error::Model(format!("ONNX tensor {}: {} values for dimensions {dims:?}", t.name, f.len().max(i.len()))));
    }
    Ok(Const { dims, f, i })
}

/// One computing node: its op, attributes and the names of the values it reads and writes.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: HashMap<String, AttributeProto>,
}

impl Node {
    /// An integer list attribute, or `default` when absent.
    pub fn ints(&self, name: &str, default: &[i64]) -> Vec<i64> {
        self.attrs.get(name).map(|a| a.ints.clone()).unwrap_or_else(|| default.to_vec())
    }
    /// An integer attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attrs.get(name).map(|a| a.i).unwrap_or(default)
    }
    /// A float attribute, or `default` when absent.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attrs.get(name).map(|a| a.f).unwrap_or(default)
    }
    /// A string attribute, or `default` when absent.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.attrs.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_else(|| default.to_string())
    }
}

/// An ONNX graph: its computing nodes in file order (ONNX requires topological order), the
/// constants by value name, the graph's input and output names.
#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub consts: HashMap<String, Const>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub opset: i64,
}

impl Graph {
    /// Parses an ONNX file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Graph> {
        let model = ModelProto::decode(bytes).map_err(|e| Error::Model(format!("not an ONNX model: {e}")))?;
        let graph = model.graph.ok_or_else(|| Error::Model("ONNX model has no graph".into()))?;
        let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(0);
        let mut consts = HashMap::new();
        for t in &graph.initializer {
            consts.insert(t.name.clone(), decode_tensor(t)?);
        }
        let mut nodes = Vec::new();
        for n in graph.node {
            if !n.domain.is_empty() && n.domain != "ai.onnx" {
                return Err(Error::Model(format!("ONNX node {} uses the op domain {}", n.name, n.domain)));
            }
            let attrs: HashMap<String, AttributeProto> = n.attribute.into_iter().map(|a| (a.name.clone(), a)).collect();
            if n.op_type == "Constant" {
                let t = attrs.get("value").and_then(|a| a.t.as_ref()).ok_or_else(|| Error::Model(format!("ONNX Constant {} has no tensor value", n.name)))?;
                let out = n.output.first().ok_or_else(|| Error::Model(format!("ONNX Constant {} has no output", n.name)))?;
                consts.insert(out.clone(), decode_tensor(t)?);
                continue;
            }
            let need = required_inputs(&n.op_type);
            if n.input.len() < need || n.input[..need].iter().any(String::is_empty) || n.output.first().is_none_or(String::is_empty) {
                return Err(Error::Model(format!("ONNX {} node {} has inputs {:?} and outputs {:?} (it needs {need} inputs and an output)", n.op_type, n.name, n.input, n.output)));
            }
            nodes.push(Node { op: n.op_type, inputs: n.input, outputs: n.output, attrs });
        }
        let initializers: Vec<&String> = graph.initializer.iter().map(|t| &t.name).collect();
        let mut g = Graph {
            nodes,
            consts,
            inputs: graph.input.into_iter().map(|v| v.name).filter(|n| !initializers.contains(&n)).collect(),
            outputs: graph.output.into_iter().map(|v| v.name).collect(),
            opset,
        };
        g.fold_constants()?;
        Ok(g)
    }

    /// Evaluates nodes whose inputs are all constants (reshapes and unsqueezes of weights and
    /// of shape vectors), so that later passes see their results as constants.
    fn fold_constants(&mut self) -> Result<()> {
        let mut kept = Vec::with_capacity(self.nodes.len());
        for n in std::mem::take(&mut self.nodes) {
            let all_const = !n.inputs.is_empty() && n.inputs.iter().all(|i| i.is_empty() || self.consts.contains_key(i));
            let folded = if all_const { fold(&n, &self.consts)? } else { None };
            match folded {
                Some(c) if n.outputs.len() == 1 => {
                    self.consts.insert(n.outputs[0].clone(), c);
                }
                _ => kept.push(n),
            }
        }
        self.nodes = kept;
        Ok(())
    }

    /// The constant feeding a value, if it is one.
    pub fn constant(&self, name: &str) -> Option<&Const> {
        self.consts.get(name)
    }
}

/// The inputs an operator cannot do without (the ONNX operator specification's minimum arity),
/// checked once when the graph is read so that the passes after it may index them.
fn required_inputs(op: &str) -> usize {
    match op {
        "Constant" => 0,
        "BatchNormalization" => 5,
        "Slice" | "Where" => 3,
        "Conv" | "ConvTranspose" | "Add" | "Sub" | "Mul" | "Div" | "Pow" | "MatMul" | "Gemm" | "Reshape" | "Gather" | "Expand" | "Equal" | "PRelu" => 2,
        _ => 1,
    }
}

/// Folds the few constant-only ops PP-OCR's graphs contain; `None` for anything else.
fn fold(n: &Node, c: &HashMap<String, Const>) -> Result<Option<Const>> {
    let input = |i: usize| n.inputs.get(i).and_then(|x| c.get(x));
    let Some(a) = input(0) else { return Ok(None) };
    Ok(match n.op.as_str() {
        "Reshape" => {
            let Some(shape) = input(1) else { return Ok(None) };
            let shape = shape.ints()?;
            let total = a.len();
            // ONNX: 0 keeps the input's dimension, -1 is inferred from the others.
            let dim = |i: usize, d: i64, inferred: usize| match d {
                0 => a.dims.get(i).copied().unwrap_or(1),
                d if d < 0 => inferred,
                d => d as usize,
            };
            let known: usize = shape.iter().enumerate().map(|(i, &d)| dim(i, d, 1)).product();
            let dims: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| dim(i, d, total / known.max(1))).collect();
            if dims.iter().product::<usize>() != total {
                return Err(Error::Model(format!("ONNX Reshape of a constant {:?} to {shape:?}", a.dims)));
            }
            Some(Const { dims, ..a.clone() })
        }
        "Unsqueeze" | "Squeeze" => {
            let axes = match input(1) {
                Some(x) => x.ints()?,
                None => n.ints("axes", &[]),
            };
            let mut dims = a.dims.clone();
            if n.op == "Unsqueeze" {
                let rank = dims.len() + axes.len();
                let mut ax: Vec<usize> = axes.iter().map(|&x| if x < 0 { (x + rank as i64) as usize } else { x as usize }).collect();
                ax.sort();
                for x in ax {
                    dims.insert(x.min(dims.len()), 1);
                }
            } else {
                dims.retain(|&d| d != 1);
            }
            Some(Const { dims, ..a.clone() })
        }
        "Concat" if a.dims.len() == 1 && !a.i.is_empty() => {
            let mut i = Vec::new();
            for x in &n.inputs {
                let Some(x) = c.get(x) else { return Ok(None) };
                i.extend(x.ints()?);
            }
            Some(Const { dims: vec![i.len()], f: vec![], i })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_decode_from_raw_and_typed_fields() {
        let raw = TensorProto { dims: vec![2], data_type: FLOAT, raw_data: [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect(), ..Default::default() };
        assert_eq!(decode_tensor(&raw).unwrap().f, vec![1.5, -2.0]);
        let ints = TensorProto { dims: vec![3], data_type: INT64, int64_data: vec![1, -1, 0], ..Default::default() };
        assert_eq!(decode_tensor(&ints).unwrap().i, vec![1, -1, 0]);
        // Wrong byte count, wrong value count, unsupported type, overflowing dims.
        let short = TensorProto { dims: vec![3], data_type: FLOAT, raw_data: vec![0; 8], ..Default::default() };
        assert!(decode_tensor(&short).is_err());
        let few = TensorProto { dims: vec![3], data_type: FLOAT, float_data: vec![1.0], ..Default::default() };
        assert!(decode_tensor(&few).is_err());
        assert!(decode_tensor(&TensorProto { dims: vec![1], data_type: 8, ..Default::default() }).is_err());
        assert!(decode_tensor(&TensorProto { dims: vec![1 << 40, 1 << 40], data_type: FLOAT, ..Default::default() }).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(Graph::parse(b"not a protobuf at all \xff\xff\xff").is_err());
        assert!(Graph::parse(&[]).is_err());
    }
}
