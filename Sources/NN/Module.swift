// Module: a named tree of parameters, found by reflection over stored properties (Tensor leaves
// that require gradients, child Modules and arrays of Modules), so a model declares its layers as
// plain properties and gets dotted names ("layers.0.weight") for checkpoints for free.
import Compute

open class Module {
    /// Training or evaluation behaviour (dropout); set recursively by `train(_:)`.
    public var isTraining = true

    public init() {}

    /// Parameters with dotted names, in declaration order.
    open func namedParameters() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        collect(prefix: "", into: &out)
        return out
    }

    /// Parameters and buffers (running statistics) with dotted names: what a checkpoint holds.
    public func namedState() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        collect(prefix: "", includeBuffers: true, into: &out)
        return out
    }

    func collect(prefix: String, includeBuffers: Bool = false, into out: inout [(String, Tensor)]) {
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, let value = Module.unwrap(child.value) else { continue }
            let name = prefix + label
            if type(of: value) is AnyObject.Type {
                switch value {
                case let t as Tensor where t.requiresGrad: out.append((name, t))
                case let b as Buffer where includeBuffers: out.append((name, b.value))
                case let m as Module: m.collect(prefix: name + ".", includeBuffers: includeBuffers, into: &out)
                default: break
                }
            } else {
                for (i, m) in Module.modules(in: value).enumerated() {
                    m.collect(prefix: "\(name).\(i).", includeBuffers: includeBuffers, into: &out)
                }
            }
        }
    }

    /// A property's value with one level of Optional removed (nil when it is nil). Only class
    /// instances are cast to classes below: casting a Swift array to a class type bridges every element.
    static func unwrap(_ v: Any) -> Any? {
        let m = Mirror(reflecting: v)
        guard m.displayStyle == .optional else { return v }
        return m.children.first?.value
    }

    /// The modules of an array-valued property ([] for anything else). A conditional conformance is
    /// checked, not a cast to [Module]: that cast bridges every element of a large array of numbers.
    static func modules(in value: Any) -> [Module] {
        if let c = value as? ModuleCollection { return c.moduleElements }
        // Arrays of existentials ([any RecurrentCell]): look at the first element's type (a metatype
        // check, no bridging) before casting the elements one by one.
        let m = Mirror(reflecting: value)
        guard m.displayStyle == .collection, let first = m.children.first,
            type(of: first.value) is AnyObject.Type, first.value is Module
        else { return [] }
        return m.children.compactMap { $0.value as? Module }
    }

    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// Switches training behaviour on or off for this module and its children.
    public func train(_ on: Bool = true) {
        isTraining = on
        for child in Mirror(reflecting: self).children {
            guard let value = Module.unwrap(child.value) else { continue }
            if type(of: value) is AnyObject.Type {
                if let m = value as? Module { m.train(on) }
            } else {
                for m in Module.modules(in: value) { m.train(on) }
            }
        }
    }
}

/// A tensor a module keeps and saves but does not train (BatchNorm's running statistics, an EMA
/// codebook). Found by reflection like parameters; listed by `namedState()`, not by `parameters`.
public final class Buffer {
    public let value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// A trainable leaf tensor.
public func Parameter(_ t: Tensor) -> Tensor { t.requiringGrad() }

/// y = x·Wᵀ + b with W [out, in] (PyTorch layout), initialised U(−1/√in, 1/√in) like PyTorch.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?
    /// Simulated FP8 (E4M3) GEMM inputs as DeepSeek-V3 trains: the input quantised per 1 × 128 tile
    /// and the weight per 128 × 128 block, multiplied with FP32 accumulation (gradients pass straight
    /// through the rounding).
    public var fp8 = false

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(Tensor.rand([outFeatures, inFeatures], -bound, bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor.rand([outFeatures], -bound, bound, rng: &rng)) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y =
            fp8
            ? x.fp8Simulated(tile: (1, 128)).matmul(weight.fp8Simulated(tile: (128, 128)).mT) : x.matmul(weight.mT)
        if let b = bias { return y + b }
        return y
    }

    /// residual + self(x), the residual added as the product's epilogue where the layer is a plain
    /// product (no bias, no FP8): a pre-norm block's `x + proj(a)` without a pass of its own.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        guard bias == nil, !fp8 else { return residual + self(x) }
        return x.matmul(weight.mT, adding: residual)
    }
}

/// A multi-layer perceptron: Linear → activation → … → Linear.
public final class MLP: Module {
    public let layers: [Linear]
    public let activation: @Sendable (Tensor) -> Tensor

    public init(_ sizes: [Int], activation: @escaping @Sendable (Tensor) -> Tensor = { $0.relu() }, rng: inout RNG) {
        precondition(sizes.count >= 2, "MLP needs at least input and output sizes")
        var ls: [Linear] = []
        for i in 0..<(sizes.count - 1) { ls.append(Linear(sizes[i], sizes[i + 1], rng: &rng)) }
        layers = ls
        self.activation = activation
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, l) in layers.enumerated() {
            h = l(h)
            if i < layers.count - 1 { h = activation(h) }
        }
        return h
    }
}

/// Why a state dict does not fit a module.
public enum StateDictError: Error, Equatable, CustomStringConvertible {
    case missing(String)
    case unexpected(String)
    case shapeMismatch(name: String, found: [Int], expected: [Int])
    case nonFinite(String)

    public var description: String {
        switch self {
        case .missing(let n): return "missing tensor \(n)"
        case .unexpected(let n): return "unexpected tensor \(n)"
        case .shapeMismatch(let n, let f, let e): return "\(n) has shape \(f), the model needs \(e)"
        case .nonFinite(let n): return "tensor \(n) holds NaN or infinite values"
        }
    }
}

extension Module {
    /// The parameters and buffers by dotted name (what `load(stateDict:)` takes back).
    public func stateDict() -> [String: Tensor] { Dictionary(uniqueKeysWithValues: namedState()) }

    /// Copies tensors into the parameters by dotted name, after checking every one: shapes must match
    /// and values be finite; with `strict`, every parameter must be given and no other name may be.
    /// Nothing is copied unless everything fits.
    public func load(stateDict: [String: Tensor], strict: Bool = true) throws {
        let named = namedState()
        if strict, let extra = Set(stateDict.keys).subtracting(named.map(\.0)).sorted().first {
            throw StateDictError.unexpected(extra)
        }
        var pairs: [(Tensor, Tensor)] = []
        for (name, p) in named {
            guard let t = stateDict[name] else {
                if strict { throw StateDictError.missing(name) }
                continue
            }
            guard t.shape == p.shape else {
                throw StateDictError.shapeMismatch(name: name, found: t.shape, expected: p.shape)
            }
            guard Kernels.allFinite(t) else { throw StateDictError.nonFinite(name) }
            pairs.append((p, t))
        }
        for (p, t) in pairs { p.assign(t) }
    }
}

/// Arrays of modules (found by reflection without casting unrelated arrays).
protocol ModuleCollection { var moduleElements: [Module] { get } }
extension Array: ModuleCollection where Element: Module {
    var moduleElements: [Module] { self }
}
