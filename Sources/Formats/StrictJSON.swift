import Foundation

// A small strict JSON reader for hostile file headers: bounded depth, exact UTF-8, and duplicate
// keys reported (Foundation's parser silently keeps the last one). Objects keep their key order.

public indirect enum JSONValue: Equatable, Sendable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case int(Int)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }
}

public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

/// Parses `bytes` as one JSON value followed only by whitespace. `onDuplicate` is told of a key seen
/// twice in one object (the parse then fails with that key named).
public struct StrictJSONParser {
    let b: [UInt8]
    var i = 0
    let maxDepth = 64

    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var p = StrictJSONParser(b: bytes)
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        if p.i != bytes.count { throw JSONParseError(offset: p.i, reason: "trailing characters after JSON value") }
        return v
    }

    mutating func skipWS() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    func fail(_ r: String) -> JSONParseError { JSONParseError(offset: i, reason: r) }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        guard i < b.count else { throw fail("unexpected end of JSON") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipWS()
            var fields: [(String, JSONValue)] = []
            var seen = Set<[UInt8]>()  // keys compare as bytes, not by Unicode canonical equivalence
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(fields)
            }
            while true {
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let keyAt = i
                let k = try string()
                guard seen.insert(Array(k.utf8)).inserted else {
                    throw JSONParseError(offset: keyAt, reason: "duplicate key \"\(k)\"")
                }
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWS()
                fields.append((k, try value(depth: depth + 1)))
                skipWS()
                guard i < b.count else { throw fail("unexpected end of object") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(fields)
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            skipWS()
            var items: [JSONValue] = []
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                skipWS()
                items.append(try value(depth: depth + 1))
                skipWS()
                guard i < b.count else { throw fail("unexpected end of array") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(items)
                }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default: return try number()
        }
    }

    mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { throw fail("invalid literal") }
        i += u.count
    }

    mutating func number() throws -> JSONValue {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, (0x30...0x39).contains(b[i]) else { throw fail("invalid value") }
        if b[i] == 0x30 { i += 1 } else { while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 } }
        var integer = true
        if i < b.count, b[i] == UInt8(ascii: ".") {
            integer = false
            i += 1
            guard i < b.count, (0x30...0x39).contains(b[i]) else { throw fail("digit expected after '.'") }
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            integer = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, (0x30...0x39).contains(b[i]) else { throw fail("digit expected in exponent") }
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        // "-0" is a negative zero, not the integer 0 (as serde_json reads it): a count or offset written
        // "-0" is rejected like any other negative number.
        if integer, let v = Int(text), !(v == 0 && b[start] == UInt8(ascii: "-")) { return .int(v) }
        guard let d = Double(text) else { throw JSONParseError(offset: start, reason: "invalid number") }
        return .number(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            i += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v * 16 + d
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if (0xD800...0xDBFF).contains(cp) {
                        guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00...0xDFFF).contains(lo) else { throw fail("unpaired surrogate") }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(cp) {
                        throw fail("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(cp) else { throw fail("invalid code point in \\u escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("invalid escape")
                }
                continue
            }
            out.append(c)
            i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
}

extension JSONValue {
    /// Serialises compactly (keys in stored order).
    public var serialized: String {
        switch self {
        case .object(let f):
            return "{" + f.map { "\(JSONValue.quote($0.0)):\($0.1.serialized)" }.joined(separator: ",") + "}"
        case .array(let a): return "[" + a.map(\.serialized).joined(separator: ",") + "]"
        case .string(let s): return JSONValue.quote(s)
        case .int(let v): return String(v)
        case .number(let d): return "\(d)"
        case .bool(let v): return v ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

extension JSONValue {
    /// The value as Foundation's JSONSerialization would return it (dictionaries, arrays, Int, Double,
    /// String, Bool, NSNull), for code written against that shape.
    public var foundationObject: Any {
        switch self {
        case .object(let fields):
            var d: [String: Any] = [:]
            for (k, v) in fields { d[k] = v.foundationObject }
            return d
        case .array(let a): return a.map(\.foundationObject)
        case .string(let s): return s
        case .int(let v): return v
        case .number(let d): return d
        case .bool(let b): return b
        case .null: return NSNull()
        }
    }
}
