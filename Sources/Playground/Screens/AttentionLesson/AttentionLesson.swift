// The attention lesson: FlashAttention's online softmax, one (row, tile) step at a time, from
// the trace the compute core records (the same algorithm the kernel runs, in scalar form).
import Compute

public struct AttentionLesson {
    public let n: Int, d: Int, tile: Int
    public let scores: [[Float]]
    public let steps: [OnlineSoftmaxStep]
    public var index = 0

    public init(n: Int = 12, d: Int = 8, tile: Int = 4, seed: UInt64 = 7) {
        self.n = n
        self.d = d
        self.tile = tile
        var rng = RNG(seed: seed)
        let q = Tensor.randn([n, d], rng: &rng)
        let k = Tensor.randn([n, d], rng: &rng)
        let v = Tensor.randn([n, d], rng: &rng)
        let s = (q.matmul(k.mT) * (1 / Float(d).squareRoot())).toArray()
        scores = (0..<n).map { i in (0..<n).map { j in j <= i ? s[i * n + j] : -.infinity } }
        steps = FlashAttention.trace(q: q, k: k, v: v, tile: tile, causal: true).steps
    }

    public var current: OnlineSoftmaxStep { steps[index] }
    public mutating func forward() { index = (index + 1) % steps.count }
    public mutating func back() { index = (index - 1 + steps.count) % steps.count }
}
