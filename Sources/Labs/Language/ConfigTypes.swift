// The types of config.json's fields, checked on the parsed JSON before decoding, so that a value of
// the wrong kind (2.5 layers, an lr of 1e400, a negative seed, an unknown model) gets a message naming
// the field and the value — Foundation's decoder reports most of these as "not valid JSON".
import Formats
import Models

enum ConfigTypes {
    /// nil when every known field of `config` has a value of its field's type; otherwise the problem.
    static func problem(in config: JSONValue) -> String? {
        guard case .object(let fields) = config else { return "\"config\" is not an object" }
        var kinds: [String: Any.Type] = [:]
        for child in Mirror(reflecting: LMConfig()).children {
            if let label = child.label { kinds[label] = type(of: child.value) }
        }
        for (key, value) in fields {
            guard let kind = kinds[key] else { continue }  // fields of later versions are ignored
            if let expected = mismatch(value, kind) {
                return "\"\(key)\" should be \(expected), got \(String(value.serialized.prefix(40)))"
            }
        }
        return nil
    }

    /// What the value should have been, or nil if it fits.
    static func mismatch(_ v: JSONValue, _ kind: Any.Type) -> String? {
        let isNull: Bool = { if case .null = v { return true } else { return false } }()
        switch kind {
        case is Int.Type: if case .int = v { return nil } else { return "an integer" }
        case is Int?.Type: if case .int = v { return nil } else { return isNull ? nil : "an integer or null" }
        case is UInt64.Type: if case .int(let x) = v, x >= 0 { return nil } else { return "a non-negative integer" }
        case is Float.Type: return finiteFloat(v) ? nil : "a number within ±3.4e38"
        case is Float?.Type: return finiteFloat(v) || isNull ? nil : "a number or null"
        case is Bool.Type: if case .bool = v { return nil } else { return "true or false" }
        case is String.Type: if case .string = v { return nil } else { return "a string" }
        case is TokenizerKind.Type:
            if case .string(let s) = v, TokenizerKind(rawValue: s) != nil { return nil }
            return "one of " + TokenizerKind.allCases.map(\.rawValue).joined(separator: ", ")
        case is CorpusSource.Type:
            if case .string(let s) = v, !s.isEmpty { return nil }
            return "\"stories\", \"dialogue\" or a file path"
        case is LMConfig.ModelKind.Type:
            if case .string(let s) = v, LMConfig.ModelKind(rawValue: s) != nil { return nil }
            return "one of " + LMConfig.ModelKind.allCases.map(\.rawValue).joined(separator: ", ")
        default: return nil
        }
    }

    static func finiteFloat(_ v: JSONValue) -> Bool {
        switch v {
        case .int(let x): return Double(x).magnitude <= Double(Float.greatestFiniteMagnitude)
        case .number(let d): return d.isFinite && d.magnitude <= Double(Float.greatestFiniteMagnitude)
        default: return false
        }
    }
}
