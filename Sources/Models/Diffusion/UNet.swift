// The diffusion UNet (Ho et al. 2020, in the small form of PERF.md's reference): residual blocks with
// GroupNorm and SiLU that add a projection of the sinusoidal time embedding, one stride-2 downsample
// and a nearest-neighbour upsample with skip connections, self-attention at the low resolution through
// the flash attention kernel, and optional cross-attention to conditioning tokens (text).
//
//   in:   Conv3×3(C → b)                                   S×S
//   down: Res(b, b) [skip s1] → Conv3×3 stride 2           S/2
//         Res(b, 2b) [skip s2]
//   mid:  Res(2b, 2b) → SelfAttn (→ CrossAttn) → Res(2b, 2b)
//   up:   Res(4b → 2b) (cat s2) → nearest ×2 → Conv3×3      S
//         Res(3b → b) (cat s1) (→ CrossAttn, full resolution)
//   out:  GN → SiLU → Conv3×3(b → C)
import Compute
import Foundation
import NN

public struct UNetConfig: Codable, Equatable, Sendable {
    public var channels = 3, size = 32
    /// Base width b (the low resolution has 2b).
    public var base = 32
    public var timeDim = 128
    public var groups = 8
    public var heads = 1
    /// Width of the conditioning tokens (nil: unconditional, no cross-attention).
    public var contextDim: Int?
    public init() {}
}

/// sin/cos features of timesteps, as in the Transformer's positions: [N, dim].
public func sinusoidalEmbedding(_ t: [Int], dim: Int) -> Tensor {
    let half = dim / 2
    var out: [Float] = []
    out.reserveCapacity(t.count * dim)
    for v in t {
        var row = [Float](repeating: 0, count: dim)
        for i in 0..<half {
            let f = Foundation.exp(-Foundation.log(10000.0) * Double(i) / Double(half))
            row[i] = Float(Foundation.sin(Double(v) * f))
            row[half + i] = Float(Foundation.cos(Double(v) * f))
        }
        out += row
    }
    return Tensor(shape: [t.count, dim], data: out)
}

/// GN → SiLU → Conv3×3, plus Linear(SiLU(time)) as a per-channel bias, → GN → SiLU → Conv3×3, plus
/// the (1×1-projected when the width changes) input.
public final class UNetResBlock: Module {
    public let norm1: GroupNorm, conv1: Conv2d, time: Linear, norm2: GroupNorm, conv2: Conv2d
    public let skip: Conv2d?
    public init(_ cin: Int, _ cout: Int, timeDim: Int, groups: Int, rng: inout RNG) {
        norm1 = GroupNorm(groups: Swift.min(groups, cin), channels: cin)
        conv1 = Conv2d(cin, cout, kernel: 3, padding: 1, rng: &rng)
        time = Linear(timeDim, cout, rng: &rng)
        norm2 = GroupNorm(groups: Swift.min(groups, cout), channels: cout)
        conv2 = Conv2d(cout, cout, kernel: 3, padding: 1, rng: &rng)
        skip = cin == cout ? nil : Conv2d(cin, cout, kernel: 1, rng: &rng)
    }
    public func callAsFunction(_ x: Tensor, _ temb: Tensor) -> Tensor {
        let c = conv1.weight.shape[0]
        var h = conv1(norm1(x, activation: .silu)) + time(temb.silu()).reshape([x.shape[0], c, 1, 1])
        h = conv2(norm2(h, activation: .silu))
        return (skip.map { $0(x) } ?? x) + h
    }
}

/// Self-attention over the pixels of a feature map (GN first, residual), `heads` heads.
public final class UNetSelfAttention: Module {
    public let norm: GroupNorm, qkv: Conv2d, out: Conv2d
    let heads: Int
    public init(_ c: Int, heads: Int, groups: Int, rng: inout RNG) {
        norm = GroupNorm(groups: Swift.min(groups, c), channels: c)
        qkv = Conv2d(c, 3 * c, kernel: 1, rng: &rng)
        out = Conv2d(c, c, kernel: 1, rng: &rng)
        self.heads = heads
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let d = C / heads
        // [N, 3C, HW] → q, k, v each [N, heads, HW, d].
        let t = qkv(norm(x)).reshape([N, 3, heads, d, H * W]).permute([1, 0, 2, 4, 3])
        let q = t.select(0, 0).contiguous()
        let k = t.select(0, 1).contiguous()
        let v = t.select(0, 2).contiguous()
        let a = Tensor.attention(q, k, v)  // [N, heads, HW, d]
        let h = a.permute([0, 1, 3, 2]).contiguous().reshape([N, C, H, W])
        return x + out(h)
    }
}

/// Cross-attention from the pixels (queries) to conditioning tokens [N, L, contextDim] (keys, values).
public final class UNetCrossAttention: Module {
    public let norm: GroupNorm, q: Conv2d, k: Linear, v: Linear, out: Conv2d
    let heads: Int
    public init(_ c: Int, contextDim: Int, heads: Int, groups: Int, rng: inout RNG) {
        norm = GroupNorm(groups: Swift.min(groups, c), channels: c)
        q = Conv2d(c, c, kernel: 1, rng: &rng)
        k = Linear(contextDim, c, bias: false, rng: &rng)
        v = Linear(contextDim, c, bias: false, rng: &rng)
        out = Conv2d(c, c, kernel: 1, rng: &rng)
        self.heads = heads
    }
    /// When set, each call keeps its attention probabilities [N, heads, HW, L] in `probabilities`
    /// (where a word "looks"); computed apart from the flash kernel, which never forms them.
    public var recordProbabilities = false
    public private(set) var probabilities: Tensor?

    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let L = context.shape[1]
        let d = C / heads
        let qs = q(norm(x)).reshape([N, heads, d, H * W]).permute([0, 1, 3, 2]).contiguous()
        let ks = k(context).reshape([N, L, heads, d]).permute([0, 2, 1, 3]).contiguous()
        let vs = v(context).reshape([N, L, heads, d]).permute([0, 2, 1, 3]).contiguous()
        if recordProbabilities {
            probabilities = noGrad { (qs.matmul(ks.mT) * (1 / Float(d).squareRoot())).softmax(-1) }
        }
        let a = Tensor.attention(qs, ks, vs)
        return x + out(a.permute([0, 1, 3, 2]).contiguous().reshape([N, C, H, W]))
    }
}

public final class UNet: Module {
    public let config: UNetConfig
    public let time1: Linear, time2: Linear
    public let inConv: Conv2d
    public let down1: UNetResBlock, downsample: Conv2d, down2: UNetResBlock
    public let mid1: UNetResBlock, midAttention: UNetSelfAttention, midCross: UNetCrossAttention?, mid2: UNetResBlock
    public let up2: UNetResBlock, upConv: Conv2d, up1: UNetResBlock, upCross: UNetCrossAttention?
    public let outNorm: GroupNorm, outConv: Conv2d

    public init(_ c: UNetConfig, rng: inout RNG) {
        precondition(c.size % 2 == 0 && c.base % c.groups == 0, "UNet: even size and base divisible by groups")
        config = c
        let b = c.base
        time1 = Linear(32, c.timeDim, rng: &rng)
        time2 = Linear(c.timeDim, c.timeDim, rng: &rng)
        inConv = Conv2d(c.channels, b, kernel: 3, padding: 1, rng: &rng)
        down1 = UNetResBlock(b, b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        downsample = Conv2d(b, b, kernel: 3, stride: 2, padding: 1, rng: &rng)
        down2 = UNetResBlock(b, 2 * b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        mid1 = UNetResBlock(2 * b, 2 * b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        midAttention = UNetSelfAttention(2 * b, heads: c.heads, groups: c.groups, rng: &rng)
        midCross = c.contextDim.map {
            UNetCrossAttention(2 * b, contextDim: $0, heads: c.heads, groups: c.groups, rng: &rng)
        }
        mid2 = UNetResBlock(2 * b, 2 * b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        up2 = UNetResBlock(4 * b, 2 * b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        upConv = Conv2d(2 * b, 2 * b, kernel: 3, padding: 1, rng: &rng)
        up1 = UNetResBlock(3 * b, b, timeDim: c.timeDim, groups: c.groups, rng: &rng)
        upCross = c.contextDim.map {
            UNetCrossAttention(b, contextDim: $0, heads: c.heads, groups: c.groups, rng: &rng)
        }
        outNorm = GroupNorm(groups: Swift.min(c.groups, b), channels: b)
        outConv = Conv2d(b, c.channels, kernel: 3, padding: 1, rng: &rng)
    }

    /// The prediction (ε or v) for x_t [N, C, S, S] at timesteps t (one per image), conditioned on
    /// `context` [N, L, contextDim] when the model has cross-attention.
    public func callAsFunction(_ x: Tensor, t: [Int], context: Tensor? = nil) -> Tensor {
        precondition(t.count == x.shape[0], "UNet: one timestep per image")
        let temb = time2(time1(sinusoidalEmbedding(t, dim: 32)).silu())
        let h0 = inConv(x)
        let s1 = down1(h0, temb)
        let s2 = down2(downsample(s1), temb)
        var h = midAttention(mid1(s2, temb))
        if let cross = midCross, let ctx = context { h = cross(h, context: ctx) }
        h = mid2(h, temb)
        h = up2(Tensor.cat([h, s2], dim: 1), temb)
        h = upConv(h.upsampleNearest(2))
        h = up1(Tensor.cat([h, s1], dim: 1), temb)
        if let cross = upCross, let ctx = context { h = cross(h, context: ctx) }
        return outConv(outNorm(h, activation: .silu))
    }
}
