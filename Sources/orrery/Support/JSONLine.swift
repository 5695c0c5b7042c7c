// One JSON object per line, for the --json contract. JSON has no NaN or infinity: a non-finite
// number is written as null, and the event gains "nonfinite": {"<key path>": "nan" | "inf" | "-inf"}
// naming each one, so a diverging run can still be reported and read by a script.
import Foundation

enum JSONLine {
    /// One-line JSON with sorted keys.
    static func encode(_ object: [String: Any]) -> String {
        var nonfinite: [String: String] = [:]
        var clean: [String: Any] = [:]
        for (k, v) in object { clean[k] = sanitize(v, path: k, &nonfinite) }
        if !nonfinite.isEmpty { clean["nonfinite"] = nonfinite }
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .fragmentsAllowed])
        else {
            return #"{"message":"an event could not be encoded as JSON","type":"error"}"#
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func sanitize(_ value: Any, path: String, _ nonfinite: inout [String: String]) -> Any {
        func number(_ d: Double) -> Any {
            if d.isFinite { return d }
            nonfinite[path] = d.isNaN ? "nan" : (d > 0 ? "inf" : "-inf")
            return NSNull()
        }
        switch value {
        case is Int, is Bool, is String: return value
        case let d as Double: return number(d)
        case let f as Float: return number(Double(f))
        case let dict as [String: Any]:
            var out: [String: Any] = [:]
            for (k, v) in dict { out[k] = sanitize(v, path: path + "." + k, &nonfinite) }
            return out
        case let array as [Any]:
            return array.enumerated().map { sanitize($0.element, path: path + "." + String($0.offset), &nonfinite) }
        default: return value
        }
    }
}
