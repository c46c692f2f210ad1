//! PP-OCR (PaddleOCR's detector and recogniser, as ONNX exports) → helplens network ops.
//!
//! The ONNX graph is lowered by walking its nodes in order and keeping, for every ONNX value,
//! what it stands for in our program ([`Sym`]): a channels-last tensor with the layout the ONNX
//! graph thinks it has, a dynamic shape vector, or a stage of an attention block. Then:
//! - Conv / ConvTranspose / MatMul absorb what follows them while it is per-channel or scalar
//!   arithmetic: bias adds, BatchNorm, the scalar affine before an activation (into weights and
//!   bias), the activation (hard sigmoid's slope and offset into the weights, then clip to
//!   [0, 1]; sigmoid × input = swish), and the scalar affine after it (into the epilogue).
//! - GlobalAveragePool + two 1×1 convs + Mul (+ Add) become pool, two linears and a channel
//!   scaling (squeeze-excitation); the decomposed LayerNorm becomes one op; the reshape /
//!   transpose / slice chain of multi-head attention becomes one attention op.
//! - Reshapes and transposes between NCHW feature maps of height 1 and token sequences move no
//!   data in channels-last layout: they become aliases.
//!
//! Anything else is refused with the node's name, so a different export fails loudly.

use std::collections::{HashMap, HashSet};

use candle_core::quantized::QTensor;

use super::onnx::{Const, Graph, Node};
use crate::error::{Error, Result};
use crate::models::convnet::{NetConfig, Op};
use crate::tensor::{Activation, Epilogue, Window};
use crate::weights::quant::{quantize_matrix, vector, Precision};

/// How the ONNX graph sees a tensor we hold channels-last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[b, c, h, w]` (ours `[b, h, w, c]`).
    Nchw,
    /// `[b, c, w]`: a height-1 map flattened.
    Ncw,
    /// `[b, w, c]`: tokens.
    Nwc,
    /// `[b, h, w, c]` as ONNX sees it too (tokens reshaped back, height 1).
    Nhwc,
}

impl Layout {
    fn rank(self) -> usize {
        match self {
            Layout::Nchw | Layout::Nhwc => 4,
            Layout::Ncw | Layout::Nwc => 3,
        }
    }
}

/// What an ONNX value stands for.
#[derive(Debug, Clone, PartialEq)]
enum Sym {
    /// Program value `v`; `h` its height where it is known at conversion time; `lead` extra
    /// leading unit axes ONNX added; `pooled` for a `[b, c, 1, 1]` from a global pool.
    Act { v: usize, layout: Layout, h: Option<usize>, lead: usize, pooled: bool },
    /// A shape vector computed at run time (`len` entries; `scalar` once squeezed).
    Shape { len: usize, scalar: bool },
    /// q, k, v packed: the output of a linear reshaped to `[b, t, 3, heads, d]` (transposed).
    Qkv { v: usize, heads: usize, d: usize },
    /// One of q (0), k (1), v (2); `scaled` once q is multiplied by 1/√d, `kt` once k is
    /// transposed.
    Part { v: usize, heads: usize, d: usize, part: usize, scaled: bool, kt: bool },
    /// q·kᵀ, then softmax(q·kᵀ).
    Scores { v: usize, heads: usize, d: usize, soft: bool },
    /// softmax(q·kᵀ)·v, `[b, heads, t, d]`; `swapped` once transposed to `[b, t, heads, d]`.
    Mixed { v: usize, heads: usize, d: usize, swapped: bool },
}

/// The lowered network and its weights.
pub struct Lowered {
    pub config: NetConfig,
    pub tensors: Vec<(String, QTensor)>,
    /// Whether the graph ends in a softmax that the program leaves out (its output is logits).
    pub softmax_dropped: bool,
}

/// Lowers `graph` whose input has `in_h` rows when known (the recogniser's 48).
/// `backbone_f16`: the ops before the first pooling stay f16 where `precision` is int8.
pub fn lower(graph: &Graph, prefix: &str, in_h: Option<usize>, precision: Precision, backbone_f16: bool) -> Result<Lowered> {
    let mut l = Lowering::new(graph, prefix, precision);
    l.backbone_f16 = backbone_f16;
    l.run(in_h)
}

struct Lowering<'g> {
    g: &'g Graph,
    prefix: String,
    precision: Precision,
    ops: Vec<Op>,
    tensors: Vec<(String, QTensor)>,
    sym: HashMap<String, Sym>,
    consumers: HashMap<String, Vec<usize>>,
    done: HashSet<usize>,
    softmax_dropped: bool,
    backbone_f16: bool,
}

fn err(n: &Node, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("PP-OCR converter: {} node ({} → {}): {what}", n.op, n.inputs.join(", "), n.outputs.join(", ")))
}

/// A per-output-channel affine `y·scale + bias` under construction.
struct Channels {
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl Channels {
    /// `a·y + c` where `a` and `c` have one value or one per channel.
    fn affine(&mut self, a: &[f32], c: &[f32]) {
        let o = self.bias.len();
        for i in 0..o {
            let (ai, ci) = (a[if a.len() == 1 { 0 } else { i }], c[if c.len() == 1 { 0 } else { i }]);
            self.scale[i] *= ai;
            self.bias[i] = self.bias[i] * ai + ci;
        }
    }
}

impl<'g> Lowering<'g> {
    fn new(g: &'g Graph, prefix: &str, precision: Precision) -> Self {
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for x in &n.inputs {
                consumers.entry(x.clone()).or_default().push(i);
            }
        }
        Lowering {
            g,
            prefix: prefix.into(),
            precision,
            ops: vec![],
            tensors: vec![],
            sym: HashMap::new(),
            consumers,
            done: HashSet::new(),
            softmax_dropped: false,
            backbone_f16: false,
        }
    }

    fn run(mut self, in_h: Option<usize>) -> Result<Lowered> {
        let input = self.g.inputs.first().ok_or_else(|| Error::Model("PP-OCR converter: the graph has no input".into()))?;
        self.sym.insert(input.clone(), Sym::Act { v: 0, layout: Layout::Nchw, h: in_h, lead: 0, pooled: false });
        let mut in_channels = None;
        for i in 0..self.g.nodes.len() {
            if self.done.contains(&i) {
                continue;
            }
            self.done.insert(i);
            let n = &self.g.nodes[i];
            if in_channels.is_none() && n.op == "Conv" && n.inputs[0] == *input {
                in_channels = self.g.constant(&n.inputs[1]).map(|w| w.dims[1]);
            }
            self.node(n)?;
        }
        let out = self.g.outputs.first().ok_or_else(|| Error::Model("PP-OCR converter: the graph has no output".into()))?;
        let output = match self.sym.get(out) {
            Some(Sym::Act { v, .. }) => *v,
            other => return Err(Error::Model(format!("PP-OCR converter: the graph output is {other:?}, not a tensor"))),
        };
        let config = NetConfig { in_channels: in_channels.unwrap_or(3), ops: self.ops, output };
        config.validate()?;
        Ok(Lowered { config, tensors: self.tensors, softmax_dropped: self.softmax_dropped })
    }

    fn act(&self, n: &Node, name: &str) -> Result<(usize, Layout, Option<usize>, usize, bool)> {
        match self.sym.get(name) {
            Some(Sym::Act { v, layout, h, lead, pooled }) => Ok((*v, *layout, *h, *lead, *pooled)),
            other => Err(err(n, format!("input {name} is {other:?}, a tensor was expected"))),
        }
    }

    fn konst(&self, n: &Node, idx: usize) -> Result<&'g Const> {
        n.inputs.get(idx).and_then(|x| self.g.constant(x)).ok_or_else(|| err(n, format!("input {idx} must be a constant")))
    }

    fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len()
    }

    fn set(&mut self, name: &str, s: Sym) {
        self.sym.insert(name.to_string(), s);
    }

    fn act_out(&mut self, name: &str, v: usize, layout: Layout, h: Option<usize>) {
        self.set(name, Sym::Act { v, layout, h, lead: 0, pooled: false });
    }

    /// The consumers of `value` not yet lowered.
    fn users(&self, value: &str) -> Vec<usize> {
        self.consumers.get(value).map(|v| v.iter().copied().filter(|i| !self.done.contains(i)).collect()).unwrap_or_default()
    }

    /// The one constant operand of a binary node reading `value`, as values.
    fn other_const(&self, n: &Node, value: &str) -> Option<Vec<f32>> {
        let other = n.inputs.iter().find(|x| x.as_str() != value)?;
        self.g.constant(other).map(Const::floats)
    }

    /// The `o` output channels of a Conv/ConvTranspose node: unit scale, its bias (input 2) or
    /// zeros.
    fn channels(&self, n: &Node, o: usize) -> Result<Channels> {
        let bias = match n.inputs.get(2) {
            Some(b) if !b.is_empty() => self.g.constant(b).ok_or_else(|| err(n, "bias must be constant"))?.floats(),
            _ => vec![0.0; o],
        };
        if bias.len() != o {
            return Err(err(n, format!("{} bias values for {o} channels", bias.len())));
        }
        Ok(Channels { scale: vec![1.0; o], bias })
    }

    fn weight(&mut self, name: String, data: &[f32], rows: usize, cols: usize) -> Result<()> {
        // Matrices narrower than a Q8_0 block (the 27-input stem, 3x3 depthwise kernels) and
        // vectors stay f32: padding them to 32 would cost more than it saves.
        let mut p = if cols < 32 { Precision::F32 } else { self.precision };
        // The recogniser's convolutional backbone (everything before its pooling) in f16 when
        // asked: int8 there dropped spaces between words ("Error 14" read "Error14") on the
        // golden line crops; f16 there reads what f32 reads on 29 of 30 for 1.1 MB more.
        if self.backbone_f16 && p == Precision::Int8 && !self.ops.iter().any(|o| matches!(o, Op::AvgPool { .. })) {
            p = Precision::F16;
        }
        let t = quantize_matrix(data, rows, cols, p)?;
        self.tensors.push((name, t));
        Ok(())
    }

    fn bias(&mut self, name: String, data: &[f32]) -> Result<()> {
        self.tensors.push((name, vector(data)?));
        Ok(())
    }

    /// Absorbs the per-channel and scalar arithmetic after a linear map with `o` outputs whose
    /// raw result is `value`: returns the epilogue and the name of the last absorbed value.
    fn absorb(&mut self, value: &str, ch: &mut Channels) -> Result<(Epilogue, String)> {
        let o = ch.bias.len();
        let mut epi = Epilogue::from(Activation::None);
        let mut cur = value.to_string();
        let fits = |c: &[f32]| c.len() == 1 || c.len() == o;
        loop {
            if self.g.outputs.contains(&cur) {
                break;
            }
            let users = self.users(&cur);
            let activated = epi.act != Activation::None;
            if users.len() == 2 && !activated {
                // x · sigmoid(x): swish.
                let (a, b) = (&self.g.nodes[users[0]], &self.g.nodes[users[1]]);
                let (sig, mul) = if a.op == "Sigmoid" { (a, b) } else { (b, a) };
                let (si, mi) = if a.op == "Sigmoid" { (users[0], users[1]) } else { (users[1], users[0]) };
                if sig.op == "Sigmoid" && mul.op == "Mul" && mul.inputs.contains(&cur) && mul.inputs.contains(&sig.outputs[0]) {
                    epi.act = Activation::Swish;
                    self.done.insert(si);
                    self.done.insert(mi);
                    cur = mul.outputs[0].clone();
                    continue;
                }
                break;
            }
            let [u] = users[..] else { break };
            let n = &self.g.nodes[u];
            let c = self.other_const(n, &cur);
            match (n.op.as_str(), c) {
                ("Add", Some(c)) if fits(&c) && !activated => ch.affine(&[1.0], &c),
                ("Mul", Some(c)) if fits(&c) && !activated => ch.affine(&c, &[0.0]),
                ("Add", Some(c)) if c.len() == 1 && activated => epi.shift += c[0],
                ("Mul", Some(c)) if c.len() == 1 && activated => {
                    epi.scale *= c[0];
                    epi.shift *= c[0];
                }
                ("BatchNormalization", _) if !activated => {
                    let [g, b, m, v] = [1, 2, 3, 4].map(|i| self.konst(n, i).map(Const::floats));
                    let (g, b, m, v) = (g?, b?, m?, v?);
                    if [&g, &b, &m, &v].iter().any(|t| t.len() != o) {
                        return Err(err(n, format!("BatchNorm over {} channels after {o}", g.len())));
                    }
                    let eps = n.float("epsilon", 1e-5);
                    let s: Vec<f32> = g.iter().zip(&v).map(|(g, v)| g / (v + eps).sqrt()).collect();
                    let shift: Vec<f32> = b.iter().zip(&m).zip(&s).map(|((b, m), s)| b - m * s).collect();
                    ch.affine(&s, &shift);
                }
                ("HardSwish", _) if !activated => epi.act = Activation::HardSwish,
                ("Relu", _) if !activated => epi.act = Activation::Relu,
                ("Sigmoid", _) if !activated => epi.act = Activation::Sigmoid,
                ("HardSigmoid", _) if !activated => {
                    ch.affine(&[n.float("alpha", 0.2)], &[n.float("beta", 0.5)]);
                    epi.act = Activation::Clip01;
                }
                _ => break,
            }
            self.done.insert(u);
            cur = n.outputs[0].clone();
        }
        Ok((epi, cur))
    }

    fn node(&mut self, n: &'g Node) -> Result<()> {
        let out = n.outputs.first().ok_or_else(|| err(n, "no output"))?.clone();
        match n.op.as_str() {
            "Conv" => self.conv(n),
            "ConvTranspose" => self.conv_transpose(n),
            "MatMul" => self.matmul(n),
            "GlobalAveragePool" => {
                let (v, layout, _, _, _) = self.act(n, &n.inputs[0])?;
                if layout != Layout::Nchw {
                    return Err(err(n, "pooling a token sequence"));
                }
                let p = self.push(Op::GlobalPool { x: v });
                self.set(&out, Sym::Act { v: p, layout, h: Some(1), lead: 0, pooled: true });
                Ok(())
            }
            "Mul" => self.mul(n, &out),
            "Add" => {
                let syms: Vec<Option<Sym>> = n.inputs.iter().map(|x| self.sym.get(x).cloned()).collect();
                match (&syms[..], n.inputs.iter().find_map(|x| self.g.constant(x))) {
                    ([Some(Sym::Act { v: a, layout, h, .. }), Some(Sym::Act { v: b, layout: l2, .. })], _) if layout == l2 => {
                        let (layout, h) = (*layout, *h);
                        let v = self.push(Op::Add { a: *a, b: *b });
                        self.act_out(&out, v, layout, h);
                        Ok(())
                    }
                    // + 0: an identity PaddlePaddle's export leaves in.
                    (_, Some(c)) if c.floats().iter().all(|&x| x == 0.0) => {
                        let x = n.inputs.iter().find(|x| self.g.constant(x).is_none()).ok_or_else(|| err(n, "no tensor input"))?;
                        let s = self.sym.get(x).cloned().ok_or_else(|| err(n, "unknown input"))?;
                        self.set(&out, s);
                        Ok(())
                    }
                    _ => Err(err(n, format!("unsupported operands {syms:?}"))),
                }
            }
            "Resize" => {
                let (v, layout, h, _, _) = self.act(n, &n.inputs[0])?;
                let scales = self.konst(n, 2)?.floats();
                let mode = n.string("mode", "nearest");
                let f = scales.get(2).copied().unwrap_or(0.0);
                if mode != "nearest" || scales.len() != 4 || scales[..2] != [1.0, 1.0] || scales[3] != f || f.fract() != 0.0 || f < 1.0 {
                    return Err(err(n, format!("only nearest upsampling by an integer factor is supported (mode {mode}, scales {scales:?})")));
                }
                let u = self.push(Op::Upsample { x: v, factor: f as usize });
                self.act_out(&out, u, layout, h.map(|h| h * f as usize));
                Ok(())
            }
            "Concat" => self.concat(n, &out),
            "AveragePool" => {
                let (v, layout, h, _, _) = self.act(n, &n.inputs[0])?;
                let win = window(n)?;
                if n.int("ceil_mode", 0) != 0 || n.int("count_include_pad", 0) != 0 {
                    return Err(err(n, "ceil_mode and count_include_pad are not supported"));
                }
                let p = self.push(Op::AvgPool { x: v, win });
                self.act_out(&out, p, layout, h.map(|h| (h + win.pad[0] + win.pad[2] - win.kh) / win.sh + 1));
                Ok(())
            }
            "Shape" => {
                let len = match self.sym.get(&n.inputs[0]) {
                    Some(Sym::Act { layout, lead, .. }) => layout.rank() + lead,
                    Some(Sym::Part { .. }) => 4,
                    other => return Err(err(n, format!("shape of {other:?}"))),
                };
                self.set(&out, Sym::Shape { len, scalar: false });
                Ok(())
            }
            "Slice" => self.slice(n, &out),
            "Squeeze" | "Unsqueeze" => self.squeeze(n, &out),
            "Reshape" => self.reshape(n, &out),
            "Transpose" => self.transpose(n, &out),
            "Softmax" => match self.sym.get(&n.inputs[0]).cloned() {
                Some(Sym::Scores { v, heads, d, soft: false }) if n.int("axis", -1) == -1 || n.int("axis", -1) == 3 => {
                    self.set(&out, Sym::Scores { v, heads, d, soft: true });
                    Ok(())
                }
                Some(s @ Sym::Act { layout: Layout::Nwc, .. }) if self.g.outputs.contains(&out) && [-1, 2].contains(&n.int("axis", -1)) => {
                    // The recogniser's final softmax over classes: the program returns logits,
                    // and the decoder takes the softmax of the rows it needs.
                    self.softmax_dropped = true;
                    self.set(&out, s);
                    Ok(())
                }
                other => Err(err(n, format!("softmax of {other:?}"))),
            },
            "ReduceMean" => self.layer_norm(n),
            _ => Err(err(n, "op not supported")),
        }
    }

    fn conv(&mut self, n: &'g Node) -> Result<()> {
        let (x, layout, h, _, pooled) = self.act(n, &n.inputs[0])?;
        if layout != Layout::Nchw {
            return Err(err(n, "convolution of a token sequence"));
        }
        let w = self.konst(n, 1)?;
        let [o, ig, kh, kw] = w.dims[..] else { return Err(err(n, format!("weights {:?}", w.dims))) };
        let win = window(n)?;
        if (win.kh, win.kw) != (kh, kw) {
            return Err(err(n, "kernel_shape does not match the weights"));
        }
        let group = n.int("group", 1) as usize;
        let mut ch = self.channels(n, o)?;
        let (epi, last) = self.absorb(&n.outputs[0], &mut ch)?;
        let wf = w.floats();
        let taps = kh * kw;
        let i = self.ops.len();
        let prefix = self.prefix.clone();
        let name = |s: &str| format!("{prefix}.{i}.{s}");
        let (op, rows, cols, data) = if group == 1 {
            // [o, i, kh, kw] → [o, (ky, kx, i)], scaled per output channel.
            let mut d = vec![0f32; o * taps * ig];
            for oo in 0..o {
                for ii in 0..ig {
                    for t in 0..taps {
                        d[oo * taps * ig + t * ig + ii] = wf[(oo * ig + ii) * taps + t] * ch.scale[oo];
                    }
                }
            }
            (Op::Conv { x, inp: ig, out: o, win, epi }, o, taps * ig, d)
        } else if group == o && ig == 1 {
            let d: Vec<f32> = wf.chunks_exact(taps).zip(&ch.scale).flat_map(|(r, s)| r.iter().map(move |v| v * s)).collect();
            (Op::Depthwise { x, c: o, win, epi }, o, taps, d)
        } else {
            return Err(err(n, format!("group {group} convolutions are not supported")));
        };
        self.weight(name("w"), &data, rows, cols)?;
        self.bias(name("b"), &ch.bias)?;
        let v = self.push(op);
        let oh = h.map(|h| (h + win.pad[0] + win.pad[2]).saturating_sub(kh) / win.sh + 1);
        // A 1×1 convolution of a pooled map (squeeze-excitation's) is pooled too.
        let pooled = pooled && (kh, kw, win.pad) == (1, 1, [0; 4]);
        self.set(&last, Sym::Act { v, layout: Layout::Nchw, h: oh, lead: 0, pooled });
        Ok(())
    }

    fn conv_transpose(&mut self, n: &'g Node) -> Result<()> {
        let (x, layout, h, _, _) = self.act(n, &n.inputs[0])?;
        let w = self.konst(n, 1)?;
        let [inp, o, kh, kw] = w.dims[..] else { return Err(err(n, format!("weights {:?}", w.dims))) };
        let strides = n.ints("strides", &[1, 1]);
        let pads = n.ints("pads", &[0, 0, 0, 0]);
        if layout != Layout::Nchw
            || kh != kw
            || strides != [kh as i64, kw as i64]
            || pads.iter().any(|&p| p != 0)
            || n.int("group", 1) != 1
            || !n.ints("output_padding", &[]).iter().all(|&p| p == 0)
        {
            return Err(err(n, "only kernel = stride transposed convolutions without padding are supported"));
        }
        let mut ch = self.channels(n, o)?;
        let (epi, last) = self.absorb(&n.outputs[0], &mut ch)?;
        let wf = w.floats();
        let k = kh;
        // Row (dy, dx, oo) of the matrix, column ii: W[ii, oo, dy, dx].
        let mut d = vec![0f32; k * k * o * inp];
        let mut b = vec![0f32; k * k * o];
        for dy in 0..k {
            for dx in 0..k {
                for oo in 0..o {
                    let r = (dy * k + dx) * o + oo;
                    b[r] = ch.bias[oo];
                    for ii in 0..inp {
                        d[r * inp + ii] = wf[((ii * o + oo) * k + dy) * k + dx] * ch.scale[oo];
                    }
                }
            }
        }
        let i = self.ops.len();
        self.weight(format!("{}.{i}.w", self.prefix), &d, k * k * o, inp)?;
        self.bias(format!("{}.{i}.b", self.prefix), &b)?;
        let v = self.push(Op::ConvTranspose { x, inp, out: o, k, epi });
        self.act_out(&last, v, Layout::Nchw, h.map(|h| h * k));
        Ok(())
    }

    fn matmul(&mut self, n: &'g Node) -> Result<()> {
        let (a, b) = (self.sym.get(&n.inputs[0]).cloned(), self.sym.get(&n.inputs[1]).cloned());
        let out = &n.outputs[0];
        match (a, b, self.g.constant(&n.inputs[1])) {
            (Some(Sym::Act { v: x, layout: Layout::Nwc, h, .. }), _, Some(w)) => {
                let [inp, o] = w.dims[..] else { return Err(err(n, format!("weights {:?}", w.dims))) };
                let mut ch = Channels { scale: vec![1.0; o], bias: vec![0.0; o] };
                let (epi, last) = self.absorb(out, &mut ch)?;
                let wf = w.floats();
                // [in, out] → [out, in], scaled per output.
                let d: Vec<f32> = (0..o).flat_map(|oo| (0..inp).map(move |ii| (oo, ii))).map(|(oo, ii)| wf[ii * o + oo] * ch.scale[oo]).collect();
                let i = self.ops.len();
                self.weight(format!("{}.{i}.w", self.prefix), &d, o, inp)?;
                self.bias(format!("{}.{i}.b", self.prefix), &ch.bias)?;
                let v = self.push(Op::Linear { x, inp, out: o, epi });
                self.act_out(&last, v, Layout::Nwc, h);
                Ok(())
            }
            (Some(Sym::Part { v, heads, d, part: 0, scaled: true, .. }), Some(Sym::Part { v: v2, part: 1, kt: true, .. }), _) if v == v2 => {
                self.set(out, Sym::Scores { v, heads, d, soft: false });
                Ok(())
            }
            (Some(Sym::Scores { v, heads, d, soft: true }), Some(Sym::Part { v: v2, part: 2, kt: false, .. }), _) if v == v2 => {
                self.set(out, Sym::Mixed { v, heads, d, swapped: false });
                Ok(())
            }
            (a, b, _) => Err(err(n, format!("unsupported operands {a:?} × {b:?}"))),
        }
    }

    fn mul(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let syms: Vec<Option<Sym>> = n.inputs.iter().map(|x| self.sym.get(x).cloned()).collect();
        let scalar = n.inputs.iter().find_map(|x| self.g.constant(x)).and_then(Const::scalar);
        match (&syms[..], scalar) {
            // Squeeze-excitation: a feature map times its pooled gate, plus itself if the one
            // consumer adds it back.
            ([Some(Sym::Act { v: a, pooled: pa, layout: la, h: ha, .. }), Some(Sym::Act { v: b, pooled: pb, layout: lb, h: hb, .. })], _) if pa != pb => {
                let (x, s, layout, h) = if *pb { (*a, *b, *la, *ha) } else { (*b, *a, *lb, *hb) };
                let x_name = if *pb { &n.inputs[0] } else { &n.inputs[1] };
                let users = self.users(out);
                let residual = match users[..] {
                    [u] => {
                        let add = &self.g.nodes[u];
                        add.op == "Add" && add.inputs.contains(&out.to_string()) && add.inputs.contains(x_name)
                    }
                    _ => false,
                };
                let v = self.push(Op::ScaleChannels { x, s, residual });
                let name = if residual {
                    self.done.insert(users[0]);
                    self.g.nodes[users[0]].outputs[0].clone()
                } else {
                    out.to_string()
                };
                self.act_out(&name, v, layout, h);
                Ok(())
            }
            // q / √d: the attention op applies it itself.
            ([Some(Sym::Part { v, heads, d, part: 0, scaled: false, kt }), _] | [_, Some(Sym::Part { v, heads, d, part: 0, scaled: false, kt })], Some(s)) => {
                let want = 1.0 / (*d as f32).sqrt();
                if (s - want).abs() > 1e-6 * want {
                    return Err(err(n, format!("attention scale {s}, expected 1/√{d} = {want}")));
                }
                self.set(out, Sym::Part { v: *v, heads: *heads, d: *d, part: 0, scaled: true, kt: *kt });
                Ok(())
            }
            _ => Err(err(n, format!("unsupported operands {syms:?}"))),
        }
    }

    fn concat(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let syms: Vec<Option<Sym>> = n.inputs.iter().map(|x| self.sym.get(x).cloned()).collect();
        if syms.iter().all(|s| matches!(s, Some(Sym::Act { layout: Layout::Nchw, .. }))) {
            if n.int("axis", 1) != 1 {
                return Err(err(n, "concatenation along an axis other than channels"));
            }
            let xs: Vec<usize> = syms.iter().map(|s| if let Some(Sym::Act { v, .. }) = s { *v } else { 0 }).collect();
            let h = if let Some(Sym::Act { h, .. }) = &syms[0] { *h } else { None };
            let v = self.push(Op::Concat { xs });
            self.act_out(out, v, Layout::Nchw, h);
            return Ok(());
        }
        // Shape vectors (and constant pieces of them).
        let mut len = 0;
        for (x, s) in n.inputs.iter().zip(&syms) {
            len += match (s, self.g.constant(x)) {
                (Some(Sym::Shape { len, .. }), _) => *len,
                (_, Some(c)) => c.len(),
                _ => return Err(err(n, format!("unsupported operands {syms:?}"))),
            };
        }
        self.set(out, Sym::Shape { len, scalar: false });
        Ok(())
    }

    fn slice(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let starts = self.konst(n, 1)?.ints()?;
        let ends = self.konst(n, 2)?.ints()?;
        let axes = if n.inputs.len() > 3 { self.konst(n, 3)?.ints()? } else { vec![0] };
        match self.sym.get(&n.inputs[0]).cloned() {
            Some(Sym::Shape { len, .. }) if axes == [0] => {
                let clamp = |v: i64| if v < 0 { (v + len as i64).max(0) as usize } else { (v as usize).min(len) };
                self.set(out, Sym::Shape { len: clamp(ends[0]).saturating_sub(clamp(starts[0])), scalar: false });
                Ok(())
            }
            Some(Sym::Qkv { v, heads, d }) if axes == [0] && ends[0] == starts[0] + 1 && (0..3).contains(&starts[0]) => {
                self.set(out, Sym::Part { v, heads, d, part: starts[0] as usize, scaled: false, kt: false });
                Ok(())
            }
            other => Err(err(n, format!("slice of {other:?}"))),
        }
    }

    fn squeeze(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let axes = if n.inputs.len() > 1 { self.konst(n, 1)?.ints()? } else { n.ints("axes", &[]) };
        let s = self.sym.get(&n.inputs[0]).cloned();
        let squeeze = n.op == "Squeeze";
        let new = match (s, squeeze, &axes[..]) {
            (Some(Sym::Shape { len: 1, scalar: false }), true, _) => Sym::Shape { len: 1, scalar: true },
            (Some(Sym::Shape { scalar: true, .. }), false, [0]) => Sym::Shape { len: 1, scalar: false },
            (Some(p @ Sym::Part { .. }), true, [0]) => p,
            (Some(Sym::Act { v, layout, h, lead, pooled }), false, [0]) => Sym::Act { v, layout, h, lead: lead + 1, pooled },
            (Some(Sym::Act { v, layout, h, lead, pooled }), true, [0]) if lead > 0 => Sym::Act { v, layout, h, lead: lead - 1, pooled },
            (Some(Sym::Act { v, layout: Layout::Nchw, h: Some(1), lead: 0, .. }), true, [2]) => Sym::Act { v, layout: Layout::Ncw, h: Some(1), lead: 0, pooled: false },
            (s, _, _) => return Err(err(n, format!("{} {axes:?} of {s:?}", n.op))),
        };
        self.set(out, new);
        Ok(())
    }

    fn reshape(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let target_len = match (self.sym.get(&n.inputs[1]), self.g.constant(&n.inputs[1])) {
            (Some(Sym::Shape { len, .. }), _) => *len,
            (_, Some(c)) => c.len(),
            _ => return Err(err(n, "the target shape is neither constant nor computed from shapes")),
        };
        let target = self.g.constant(&n.inputs[1]).map(|c| c.ints()).transpose()?;
        let new = match self.sym.get(&n.inputs[0]).cloned() {
            Some(Sym::Act { v, layout: Layout::Nchw, h: Some(1), lead: 0, .. }) if target_len == 3 => Sym::Act { v, layout: Layout::Ncw, h: Some(1), lead: 0, pooled: false },
            Some(Sym::Act { v, layout: Layout::Nwc, h, lead: 0, .. }) if target_len == 4 => Sym::Act { v, layout: Layout::Nhwc, h: h.or(Some(1)), lead: 0, pooled: false },
            Some(Sym::Act { v, layout: Layout::Nwc, .. }) if target_len == 5 => {
                let t = target.ok_or_else(|| err(n, "a 5-D reshape must be constant"))?;
                match (&self.ops[v - 1], &t[..]) {
                    (Op::Linear { out, .. }, &[_, _, 3, heads, d]) if heads > 0 && d > 0 && *out == (3 * heads * d) as usize => {
                        Sym::Qkv { v, heads: heads as usize, d: d as usize }
                    }
                    _ => return Err(err(n, format!("reshape to {t:?} is not a q/k/v split"))),
                }
            }
            Some(Sym::Mixed { v, heads, swapped: true, .. }) if target_len == 3 => {
                let a = self.push(Op::Attention { x: v, heads });
                Sym::Act { v: a, layout: Layout::Nwc, h: Some(1), lead: 0, pooled: false }
            }
            Some(p @ Sym::Part { .. }) => p,
            other => return Err(err(n, format!("reshape of {other:?} to {target_len} axes"))),
        };
        self.set(out, new);
        Ok(())
    }

    fn transpose(&mut self, n: &'g Node, out: &str) -> Result<()> {
        let perm = n.ints("perm", &[]);
        let new = match (self.sym.get(&n.inputs[0]).cloned(), &perm[..]) {
            (Some(Sym::Act { v, layout: Layout::Ncw, h, lead: 0, .. }), [0, 2, 1]) => Sym::Act { v, layout: Layout::Nwc, h, lead: 0, pooled: false },
            (Some(Sym::Act { v, layout: Layout::Nwc, h, lead: 0, .. }), [0, 2, 1]) => Sym::Act { v, layout: Layout::Ncw, h, lead: 0, pooled: false },
            (Some(Sym::Act { v, layout: Layout::Nhwc, h, lead: 0, .. }), [0, 3, 1, 2]) => Sym::Act { v, layout: Layout::Nchw, h, lead: 0, pooled: false },
            (Some(q @ Sym::Qkv { .. }), [2, 0, 3, 1, 4]) => q,
            (Some(Sym::Part { v, heads, d, part: 1, scaled, kt: false }), [0, 1, 3, 2]) => Sym::Part { v, heads, d, part: 1, scaled, kt: true },
            (Some(Sym::Mixed { v, heads, d, swapped: false }), [0, 2, 1, 3]) => Sym::Mixed { v, heads, d, swapped: true },
            (s, p) => return Err(err(n, format!("transpose {p:?} of {s:?}"))),
        };
        self.set(out, new);
        Ok(())
    }

    /// mean → sub → pow 2 → mean → + eps → sqrt → div → × γ → + β, over the last axis.
    fn layer_norm(&mut self, n: &'g Node) -> Result<()> {
        let (v, layout, h, _, _) = self.act(n, &n.inputs[0])?;
        let x = &n.inputs[0];
        let fail = |what: &str| err(n, format!("not a layer norm: {what}"));
        if layout != Layout::Nwc || !matches!(n.ints("axes", &[-1])[..], [-1] | [2]) {
            return Err(fail("not over the channels of a token sequence"));
        }
        let one = |l: &Self, value: &str, op: &str| -> Option<usize> {
            let u = l.users(value);
            u.iter().copied().find(|&i| l.g.nodes[i].op == op)
        };
        let mean = &n.outputs[0];
        let sub = self.users(mean).into_iter().find(|&i| self.g.nodes[i].op == "Sub" && self.g.nodes[i].inputs[0] == *x).ok_or_else(|| fail("no x − mean"))?;
        let d = &self.g.nodes[sub].outputs[0];
        let pow = one(self, d, "Pow").ok_or_else(|| fail("no square"))?;
        let var = one(self, &self.g.nodes[pow].outputs[0], "ReduceMean").ok_or_else(|| fail("no variance"))?;
        let add = one(self, &self.g.nodes[var].outputs[0], "Add").ok_or_else(|| fail("no + eps"))?;
        let eps = self.other_const(&self.g.nodes[add], &self.g.nodes[var].outputs[0]).and_then(|c| c.first().copied()).ok_or_else(|| fail("eps"))?;
        let sqrt = one(self, &self.g.nodes[add].outputs[0], "Sqrt").ok_or_else(|| fail("no sqrt"))?;
        let div = one(self, d, "Div").filter(|&i| self.g.nodes[i].inputs[1] == self.g.nodes[sqrt].outputs[0]).ok_or_else(|| fail("no division"))?;
        let mul = one(self, &self.g.nodes[div].outputs[0], "Mul").ok_or_else(|| fail("no γ"))?;
        let gamma = self.other_const(&self.g.nodes[mul], &self.g.nodes[div].outputs[0]).ok_or_else(|| fail("γ not constant"))?;
        let addb = one(self, &self.g.nodes[mul].outputs[0], "Add").ok_or_else(|| fail("no β"))?;
        let beta = self.other_const(&self.g.nodes[addb], &self.g.nodes[mul].outputs[0]).ok_or_else(|| fail("β not constant"))?;
        if gamma.len() != beta.len() || gamma.is_empty() {
            return Err(fail("γ and β sizes"));
        }
        for i in [sub, pow, var, add, sqrt, div, mul, addb] {
            self.done.insert(i);
        }
        let i = self.ops.len();
        self.bias(format!("{}.{i}.w", self.prefix), &gamma)?;
        self.bias(format!("{}.{i}.b", self.prefix), &beta)?;
        let ln = self.push(Op::LayerNorm { x: v, c: gamma.len(), eps });
        let name = self.g.nodes[addb].outputs[0].clone();
        self.act_out(&name, ln, Layout::Nwc, h);
        Ok(())
    }
}

/// A Conv/pool node's window (dilation 1, explicit padding).
fn window(n: &Node) -> Result<Window> {
    let k = n.ints("kernel_shape", &[]);
    let s = n.ints("strides", &[1, 1]);
    let p = n.ints("pads", &[0, 0, 0, 0]);
    let auto = n.string("auto_pad", "NOTSET");
    if k.len() != 2 || s.len() != 2 || p.len() != 4 || n.ints("dilations", &[1, 1]) != [1, 1] || auto != "NOTSET" {
        return Err(err(n, format!("window kernel {k:?} strides {s:?} pads {p:?} auto_pad {auto}")));
    }
    let u = |v: i64| usize::try_from(v).map_err(|_| err(n, format!("negative window value {v}")));
    // ONNX pads: [top, left, bottom, right] (begins of both axes, then ends).
    Ok(Window { kh: u(k[0])?, kw: u(k[1])?, sh: u(s[0])?, sw: u(s[1])?, pad: [u(p[0])?, u(p[1])?, u(p[2])?, u(p[3])?] })
}
