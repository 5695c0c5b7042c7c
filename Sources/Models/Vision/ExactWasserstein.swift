// The exact Wasserstein-1 distance between two equal-size point sets: W1 = min over bijections π of
// (1/n) Σ ‖a_i − b_π(i)‖, an assignment problem solved exactly by the Hungarian algorithm with
// potentials (Kuhn–Munkres, O(n³)). A WGAN critic's mean gap estimates this same quantity through the
// Kantorovich–Rubinstein dual; this is the reference it is compared against (a few hundred points).
import Compute
import Foundation

public enum ExactWasserstein {
    /// W1 between point sets a and b, both [n, d] with the same n (Euclidean ground cost).
    public static func w1(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape.count == 2 && a.shape == b.shape, "W1: two [n, d] point sets of one shape")
        let n = a.shape[0]
        let d = a.shape[1]
        guard n > 0 else { return 0 }
        let pa = a.toArray()
        let pb = b.toArray()
        var cost = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<d {
                    let diff = Double(pa[i * d + k] - pb[j * d + k])
                    s += diff * diff
                }
                cost[i * n + j] = s.squareRoot()
            }
        }
        let assignment = hungarian(cost, n: n)
        var total = 0.0
        for i in 0..<n { total += cost[i * n + assignment[i]] }
        return total / Double(n)
    }

    /// A minimum-cost perfect assignment for the n × n cost matrix (row-major): result[i] is row i's
    /// column. Shortest augmenting paths with row and column potentials u, v (1-based internally).
    public static func hungarian(_ cost: [Double], n: Int) -> [Int] {
        var u = [Double](repeating: 0, count: n + 1)
        var v = [Double](repeating: 0, count: n + 1)
        var p = [Int](repeating: 0, count: n + 1)  // p[j]: the row matched to column j (0: none)
        var way = [Int](repeating: 0, count: n + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Double](repeating: .infinity, count: n + 1)
            var used = [Bool](repeating: false, count: n + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity
                var j1 = 0
                for j in 1...n where !used[j] {
                    let cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j]
                    if cur < minv[j] {
                        minv[j] = cur
                        way[j] = j0
                    }
                    if minv[j] < delta {
                        delta = minv[j]
                        j1 = j
                    }
                }
                for j in 0...n {
                    if used[j] {
                        u[p[j]] += delta
                        v[j] -= delta
                    } else {
                        minv[j] -= delta
                    }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int](repeating: 0, count: n)
        for j in 1...n where p[j] > 0 { result[p[j] - 1] = j - 1 }
        return result
    }
}
