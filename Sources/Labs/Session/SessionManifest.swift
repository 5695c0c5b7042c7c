// config.json of every session directory: what the files are (format), which lab wrote them, the step
// they are from, and the lab's configuration — one Codable type for all labs.
import Foundation

public struct SessionManifest<Config: Codable & Sendable>: Codable, Sendable {
    public var format: String
    /// The lab that wrote the session (absent in the oldest files, e.g. the shipped chat model).
    public var lab: String?
    public var step: Int
    public var config: Config
    /// Figures worth keeping with the weights (e.g. the classifier's accuracy).
    public var metrics: [String: Double]?

    public init(format: String, lab: String, step: Int, config: Config, metrics: [String: Double]? = nil) {
        self.format = format
        self.lab = lab
        self.step = step
        self.config = config
        self.metrics = metrics
    }

    /// Pretty JSON with sorted keys; non-finite numbers as "nan" / "inf" strings.
    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try e.encode(self))
    }
}
