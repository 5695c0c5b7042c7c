import Compute
import Models
import NN
import XCTest

/// The whole-sequence recurrent op with hand-written backpropagation through time equals the same
/// layer run step by step in differentiable ops: outputs, final state, and the gradients of the
/// projected inputs, the recurrent weight and its bias.
final class RecurrentScanTests: XCTestCase {
    func close(_ a: Tensor?, _ b: Tensor?, _ what: String, tol: Float = 2e-5) {
        guard let a, let b else { return XCTFail("\(what): missing gradient") }
        XCTAssertEqual(a.shape, b.shape, what)
        let worst = zip(a.toArray(), b.toArray()).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tol, what)
    }

    func check(_ cell: some RecurrentCell, gates: Int, lstm: Bool) {
        var rng = RNG(seed: 5)
        let B = 3
        let T = 7
        let H = 6
        let xg = Tensor.randn([B, T, gates * H], rng: &rng).requiringGrad()
        let w = Tensor.randn([B, T, H], rng: &rng)
        // A carried-over (detached) initial state, as the sequence lab's chunks use.
        let h0 = Tensor.randn([B, H], rng: &rng) * 0.5
        let state = RecurrentState(h: h0, c: lstm ? Tensor.randn([B, H], rng: &rng) * 0.5 : nil)
        let params = cell.parameters
        func run(_ f: () -> (Tensor, RecurrentState)) -> (Tensor, RecurrentState, [Tensor?]) {
            xg.grad = nil
            cell.zeroGrad()
            let (y, s) = f()
            (y * w).sum().backward()
            return (y.detach(), s, [xg.grad] + params.map(\.grad))
        }
        let (y1, s1, g1) = run { cell.scan(xg, state) }
        let (y2, s2, g2) = run { cell.stepwise(xg, state) }
        close(y1, y2, "outputs")
        close(s1.h, s2.h, "final h")
        if lstm { close(s1.c, s2.c, "final c") }
        XCTAssertEqual(g1.count, g2.count)
        // xg, then the cell's parameters: the input projection's get none here (xg is given), the
        // recurrent weight and bias must match.
        XCTAssertEqual(g1.map { $0 == nil }, g2.map { $0 == nil })
        XCTAssertEqual(g1.compactMap { $0 }.count, 3, "xg, W_hh, b_hh")
        for (k, (a, b)) in zip(g1, g2).enumerated() where b != nil { close(a, b, "gradient \(k)", tol: 1e-4) }
    }

    func testLSTMScanEqualsTheStepwiseLayer() {
        var rng = RNG(seed: 1)
        let cell = LSTMCell(input: 4, hidden: 6, rng: &rng)
        check(cell, gates: 4, lstm: true)
    }

    func testGRUScanEqualsTheStepwiseLayer() {
        var rng = RNG(seed: 2)
        let cell = GRUCell(input: 4, hidden: 6, rng: &rng)
        check(cell, gates: 3, lstm: false)
    }
}
