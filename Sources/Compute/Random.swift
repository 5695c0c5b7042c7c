import Foundation

// A seeded, splittable, counter-based generator (Philox-4x32-10, Salmon et al. 2011).
// A stream is (key, counter); `split()` derives an independent key, so sub-tasks get their own
// streams and a run is reproducible whatever the thread count.

public struct RNG {
    public private(set) var key: (UInt32, UInt32)
    private var counter: UInt64 = 0
    private var buffer: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var available = 0
    private var spareNormal: Float? = nil

    public init(seed: UInt64) {
        let s = RNG.splitmix(seed)
        key = (UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32))
    }

    private init(key: (UInt32, UInt32)) { self.key = key }

    static func splitmix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A new independent generator; advances this one so successive splits differ.
    public mutating func split() -> RNG {
        let a = UInt64(next32())
        let b = UInt64(next32())
        let s = RNG.splitmix((a << 32) | b)
        return RNG(key: (UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32)))
    }

    @inline(__always)
    static func philox(_ ctr: UInt64, _ key: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: ctr)
        var c1 = UInt32(truncatingIfNeeded: ctr >> 32)
        var c2: UInt32 = 0
        var c3: UInt32 = 0
        var k0 = key.0
        var k1 = key.1
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) * UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n1 = UInt32(truncatingIfNeeded: p1)
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            let n3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0
            c1 = n1
            c2 = n2
            c3 = n3
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    public mutating func next32() -> UInt32 {
        if available == 0 {
            buffer = RNG.philox(counter, key)
            counter &+= 1
            available = 4
        }
        available -= 1
        switch available {
        case 3: return buffer.0
        case 2: return buffer.1
        case 1: return buffer.2
        default: return buffer.3
        }
    }

    public mutating func next64() -> UInt64 { (UInt64(next32()) << 32) | UInt64(next32()) }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next32() >> 8) * (1.0 / 16_777_216.0) }

    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * uniform() }

    /// Standard normal (Box–Muller, both values used).
    public mutating func normal() -> Float {
        if let s = spareNormal {
            spareNormal = nil
            return s
        }
        var u1 = Double(next32() >> 8) * (1.0 / 16_777_216.0)
        if u1 < 1e-12 { u1 = 1e-12 }
        let u2 = Double(next32() >> 8) * (1.0 / 16_777_216.0)
        let r = (-2.0 * log(u1)).squareRoot()
        let t = 2.0 * Double.pi * u2
        spareNormal = Float(r * sin(t))
        return Float(r * cos(t))
    }

    /// Uniform integer in 0..<n (unbiased, rejection sampling).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0, "int(below:) needs n > 0")
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let x = next64()
            if x < limit { return Int(x % bound) }
        }
    }

    /// Draws an index with probability proportional to `weights` (non-negative, not all zero).
    public mutating func categorical(_ weights: [Float]) -> Int {
        var total: Double = 0
        for w in weights { total += Double(max(w, 0)) }
        precondition(total > 0, "categorical needs a positive weight")
        let u = Double(uniform()) * total
        var acc: Double = 0
        for (i, w) in weights.enumerated() {
            acc += Double(max(w, 0))
            if u < acc { return i }
        }
        return weights.lastIndex(where: { $0 > 0 }) ?? 0
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, int(below: i + 1)) }
        }
        return p
    }
}
